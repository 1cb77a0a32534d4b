import { Database, type Statement } from 'bun:sqlite'
import { gcraAdjust, gcraTake, type GcraResult } from '../gateway/access/limits/gcra.ts'
import type { CountedLimitStore, PeriodUsage, QuotaLimits, QuotaVerdict } from '../gateway/access/limits/store.ts'

/**
 * Limits shared by the workers of one machine (`server.workers`), without Redis: one SQLite file in
 * WAL mode that every worker opens, each check one short write transaction (BEGIN IMMEDIATE), so
 * checks of all workers are serialised by the file lock and exact. bun:sqlite is synchronous, which
 * keeps the limiter's in-process interface (no promise per request). Each worker remembers what it
 * added itself, so the usage written to the database is counted once.
 */
export class FileLimitStore implements CountedLimitStore {
  private readonly db: Database
  private readonly q: Record<'bucket' | 'setBucket' | 'slots' | 'setSlot' | 'usage' | 'setUsage' | 'seed' | 'clearSlots', Statement>
  /** Per key: this worker's additions since the last `takeDirty`. */
  private readonly mine = new Map<string, { periodStart: number; usage: PeriodUsage }>()

  /** `worker`: this process's index; its concurrency slots are cleared at start (a restarted worker holds none). */
  constructor(path: string, private readonly worker: number) {
    this.db = new Database(path, { create: true })
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA busy_timeout = 2000')
    this.db.exec(`CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tat REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS slots (name TEXT NOT NULL, worker INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, worker));
      CREATE TABLE IF NOT EXISTS usage (key_id TEXT PRIMARY KEY, period_start INTEGER NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL, cost REAL NOT NULL)`)
    this.q = {
      bucket: this.db.prepare('SELECT tat FROM buckets WHERE name = ?'),
      setBucket: this.db.prepare('INSERT INTO buckets (name, tat) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET tat = excluded.tat'),
      slots: this.db.prepare('SELECT coalesce(sum(n), 0) AS n FROM slots WHERE name = ?'),
      setSlot: this.db.prepare('INSERT INTO slots (name, worker, n) VALUES (?, ?, ?) ON CONFLICT (name, worker) DO UPDATE SET n = excluded.n'),
      usage: this.db.prepare('SELECT period_start, requests, tokens, cost FROM usage WHERE key_id = ?'),
      setUsage: this.db.prepare('INSERT INTO usage (key_id, period_start, requests, tokens, cost) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET period_start = excluded.period_start, requests = excluded.requests, tokens = excluded.tokens, cost = excluded.cost'),
      seed: this.db.prepare('INSERT INTO usage (key_id, period_start, requests, tokens, cost) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET period_start = excluded.period_start, requests = excluded.requests, tokens = excluded.tokens, cost = excluded.cost WHERE excluded.period_start > usage.period_start'),
      clearSlots: this.db.prepare('DELETE FROM slots WHERE worker = ?'),
    }
    this.q.clearSlots.run(worker)
  }

  /** One write transaction: the file lock makes it atomic across the workers. */
  private tx<T>(work: () => T): T {
    return this.db.transaction(work).immediate()
  }

  take(bucket: string, cost: number, limit: number, periodMs: number, now: number): GcraResult {
    return this.tx(() => {
      const row = this.q.bucket.get(bucket) as { tat: number } | null
      const result = gcraTake(row?.tat ?? now, cost, limit, periodMs, now)
      if (result.allowed) this.q.setBucket.run(bucket, result.tat)
      return result
    })
  }

  adjust(bucket: string, delta: number, limit: number, periodMs: number, now: number): void {
    this.tx(() => {
      const row = this.q.bucket.get(bucket) as { tat: number } | null
      this.q.setBucket.run(bucket, gcraAdjust(row?.tat ?? now, delta, limit, periodMs, now))
    })
  }

  private mySlots(bucket: string): number {
    return (this.db.query('SELECT n FROM slots WHERE name = ? AND worker = ?').get(bucket, this.worker) as { n: number } | null)?.n ?? 0
  }

  acquire(bucket: string, max: number): boolean {
    return this.tx(() => {
      const total = (this.q.slots.get(bucket) as { n: number }).n
      if (total >= max) return false
      this.q.setSlot.run(bucket, this.worker, this.mySlots(bucket) + 1)
      return true
    })
  }

  release(bucket: string): void {
    this.tx(() => this.q.setSlot.run(bucket, this.worker, Math.max(0, this.mySlots(bucket) - 1)))
  }

  private current(keyId: string, periodStart: number): PeriodUsage {
    const row = this.q.usage.get(keyId) as { period_start: number; requests: number; tokens: number; cost: number } | null
    // A new period begins with nothing used.
    return row && row.period_start === periodStart ? { requests: row.requests, tokens: row.tokens, costUsd: row.cost } : { requests: 0, tokens: 0, costUsd: 0 }
  }

  private note(keyId: string, periodStart: number, delta: PeriodUsage): void {
    const entry = this.mine.get(keyId)
    if (!entry || entry.periodStart !== periodStart) {
      // What was noted for an earlier period stays to be written; keyed by key, so it is kept apart.
      if (entry && entry.periodStart !== periodStart) this.mine.set(`${keyId}\u0000${entry.periodStart}`, entry)
      this.mine.set(keyId, { periodStart, usage: { ...delta } })
      return
    }
    entry.usage.requests += delta.requests
    entry.usage.tokens += delta.tokens
    entry.usage.costUsd += delta.costUsd
  }

  reserveQuota(keyId: string, periodStart: number, tokens: number, limits: QuotaLimits, costUsd = 0): QuotaVerdict {
    const verdict = this.tx((): QuotaVerdict => {
      const usage = this.current(keyId, periodStart)
      if (limits.requests !== null && usage.requests + 1 > limits.requests) return { allowed: false, exceeded: 'requests' }
      if (limits.tokens !== null && usage.tokens + tokens > limits.tokens) return { allowed: false, exceeded: 'tokens' }
      if (limits.budgetUsd !== null && usage.costUsd >= limits.budgetUsd) return { allowed: false, exceeded: 'budget' }
      this.q.setUsage.run(keyId, periodStart, usage.requests + 1, usage.tokens + tokens, usage.costUsd + costUsd)
      return { allowed: true }
    })
    if (verdict.allowed) this.note(keyId, periodStart, { requests: 1, tokens, costUsd })
    return verdict
  }

  addUsage(keyId: string, periodStart: number, delta: PeriodUsage): void {
    this.tx(() => {
      const usage = this.current(keyId, periodStart)
      this.q.setUsage.run(keyId, periodStart, usage.requests + delta.requests, Math.max(0, usage.tokens + delta.tokens), Math.max(0, usage.costUsd + delta.costUsd))
    })
    this.note(keyId, periodStart, delta)
  }

  usage(keyId: string, periodStart: number): PeriodUsage {
    return this.current(keyId, periodStart)
  }

  /** Seeds a key's current period from the database unless the file already has it (another worker seeded it). */
  load(keyId: string, periodStart: number, usage: PeriodUsage): void {
    this.q.seed.run(keyId, periodStart, usage.requests, usage.tokens, usage.costUsd)
  }

  takeDirty(): Array<{ keyId: string; periodStart: number; usage: PeriodUsage }> {
    const rows = [...this.mine].map(([key, e]) => ({ keyId: key.split('\u0000')[0]!, periodStart: e.periodStart, usage: e.usage }))
    this.mine.clear()
    return rows.filter((r) => r.usage.requests !== 0 || r.usage.tokens !== 0 || r.usage.costUsd !== 0)
  }

  close(): void {
    this.db.close()
  }
}
