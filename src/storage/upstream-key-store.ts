import { and, eq } from 'drizzle-orm'
import { isPg, sameEngine, type Db, type SqliteDb } from './engine.ts'
import { pgUpstreamKeyQueries } from './pg/upstream-key-queries.ts'
import { disabledUpstreamKeys } from './schema.ts'

export interface DisabledKeyRow {
  provider: string
  fingerprint: string
  reason: string
  disabledAt: number
}

/** What the upstream-key store needs from its engine. */
export interface UpstreamKeyQueries {
  list(): Promise<DisabledKeyRow[]>
  /** With one short try (`background`): it runs on the request path. */
  upsert(row: DisabledKeyRow): Promise<void>
  remove(provider: string, fingerprint: string): Promise<void>
}

function sqliteUpstreamKeyQueries(db: SqliteDb, background: SqliteDb): UpstreamKeyQueries {
  return {
    async list() {
      const rows = await db.select().from(disabledUpstreamKeys)
      return rows.map((r) => ({ provider: r.provider, fingerprint: r.fingerprint, reason: r.reason, disabledAt: r.disabledAt.getTime() }))
    },
    async upsert(row) {
      const values = { ...row, disabledAt: new Date(row.disabledAt) }
      await background
        .insert(disabledUpstreamKeys)
        .values(values)
        .onConflictDoUpdate({ target: [disabledUpstreamKeys.provider, disabledUpstreamKeys.fingerprint], set: values })
    },
    async remove(provider, fingerprint) {
      await db.delete(disabledUpstreamKeys).where(and(eq(disabledUpstreamKeys.provider, provider), eq(disabledUpstreamKeys.fingerprint, fingerprint)))
    },
  }
}

const keyOf = (provider: string, fingerprint: string) => `${provider}\u0000${fingerprint}`

/**
 * Disabled upstream keys, by provider and key fingerprint. A key is disabled on the request path,
 * so that write gets one short try (`background`); if the database is locked or failing it stays
 * pending and `flush()`, run by the server's flusher, writes it later.
 */
export function createUpstreamKeyStore(db: Db, background: Db = db) {
  const q = isPg(db) ? pgUpstreamKeyQueries(db, sameEngine(db, background)) : sqliteUpstreamKeyQueries(db, sameEngine(db, background))
  const pending = new Map<string, DisabledKeyRow>()
  async function write(row: DisabledKeyRow): Promise<void> {
    await q.upsert(row)
    // Only what was written leaves the queue: a newer row for the key may have arrived meanwhile.
    const k = keyOf(row.provider, row.fingerprint)
    if (pending.get(k) === row) pending.delete(k)
  }
  return {
    async listDisabled(): Promise<DisabledKeyRow[]> {
      const stored = await q.list()
      const unwritten = [...pending.values()].filter((p) => !stored.some((s) => s.provider === p.provider && s.fingerprint === p.fingerprint))
      return [...stored, ...unwritten]
    },
    async setDisabled(row: DisabledKeyRow): Promise<void> {
      pending.set(keyOf(row.provider, row.fingerprint), row)
      await write(row)
    },
    async clearDisabled(provider: string, fingerprint: string): Promise<void> {
      pending.delete(keyOf(provider, fingerprint))
      await q.remove(provider, fingerprint)
    },
    /** Writes the disabled keys that could not be written when they happened. */
    async flush(): Promise<void> {
      for (const row of [...pending.values()]) await write(row)
    },
    get pending(): number {
      return pending.size
    },
  }
}
