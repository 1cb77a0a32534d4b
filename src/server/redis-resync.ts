import type { QuotaPolicy } from '../config/schema.ts'
import type { PeriodUsage } from '../gateway/access/limits/store.ts'
import { periodEnd, periodStart } from '../lib/periods.ts'
import type { Logger } from '../observability/logger.ts'
import type { RedisLimitStore } from '../scale/redis/limit-store.ts'
import type { SharedLimiter } from '../scale/shared-limiter.ts'
import type { UsageRow } from '../storage/usage-store.ts'

/** How far back the database is read: no quota period is longer than a month. */
const LOOKBACK_MS = 32 * 86_400_000
/** Reseeds sent at once: the client pipelines them. */
const BATCH = 200
const RETRY_MS = 1_000
const NOTHING: PeriodUsage = { requests: 0, tokens: 0, costUsd: 0 }

export interface ResyncParts {
  store: Pick<RedisLimitStore, 'reseed' | 'addUsage' | 'markSeeded'>
  limiter: Pick<SharedLimiter, 'takeUnsent' | 'resynced'>
  /** Saves this instance's usage to the database; resolves to the error when it could not. */
  flush(): Promise<unknown>
  usageSince(from: number): Promise<UsageRow[]>
  /** The client keys that have a quota (revoked ones left out). */
  quotaKeys(): Promise<Array<{ id: string; quota: QuotaPolicy }>>
  /** What else may have been missed while disconnected (messages): read again. */
  catchUp(): Promise<void>
  logger: Logger
  now: () => number
}

const keyOf = (keyId: string, start: number) => `${keyId}\u0000${start}`

/**
 * What runs after every (re)connect: the quota counters of the current periods reseeded from the
 * database where Redis lost them (it restarted empty), this instance's usage that Redis did not
 * hear of added where it kept them, then Redis marked as seeded. A failure is retried until it
 * succeeds; a resync asked for while one runs runs again after it.
 */
export function createResync(parts: ResyncParts): { run(): void; stop(): void } {
  let running: Promise<void> | null = null
  let again = false
  let retry: ReturnType<typeof setTimeout> | null = null
  let stopped = false

  async function once(): Promise<void> {
    const { store, limiter, logger } = parts
    const pending = new Map(limiter.takeUnsent().map((row) => [keyOf(row.keyId, row.periodStart), row]))
    let ok = false
    try {
      // The database must hold this instance's usage before it is read: a reseed includes it.
      const failed = await parts.flush()
      if (failed) throw failed
      const now = parts.now()
      const stored = new Map((await parts.usageSince(now - LOOKBACK_MS)).map((r) => [keyOf(r.keyId, r.periodStart), r.usage]))
      const keys = await parts.quotaKeys()
      let reseeded = 0
      for (let i = 0; i < keys.length; i += BATCH) {
        // Settled, not raced: every call of the batch is over before a failure is handled.
        const results = await Promise.allSettled(
          keys.slice(i, i + BATCH).map(async ({ id, quota: q }) => {
            const start = periodStart(now, q.period, q.resetTime, q.timezone)
            const end = periodEnd(now, q.period, q.resetTime, q.timezone)
            const k = keyOf(id, start)
            // Every key is reseeded, with nothing where the database has nothing, so that no period stays unseeded.
            const applied = await store.reseed(id, start, stored.get(k) ?? NOTHING, end)
            if (applied) reseeded++
            const mine = pending.get(k)
            // Where Redis was reseeded, the database (flushed above) already had this instance's usage.
            if (mine && !applied) await store.addUsage(id, start, mine.usage, end)
            pending.delete(k)
          }),
        )
        const failure = results.find((r) => r.status === 'rejected')
        if (failure) throw failure.reason
      }
      await store.markSeeded()
      // Left: other periods, or keys without a quota now. Redis has no use for them.
      pending.clear()
      ok = true
      if (reseeded > 0) logger.info({ keys: keys.length, reseeded }, 'quota counters reseeded in Redis from the database')
    } catch (err) {
      logger.warn({ err: (err as Error)?.message ?? String(err) }, 'could not resync the shared limits with Redis; retrying')
    } finally {
      limiter.resynced([...pending.values()], ok)
    }
    await parts.catchUp().catch((err) => logger.warn({ err: (err as Error).message }, 'could not catch up after reconnecting to Redis'))
    if (!ok && !stopped) {
      retry = setTimeout(run, RETRY_MS)
      retry.unref?.()
    }
  }

  function run(): void {
    if (stopped) return
    if (retry) clearTimeout(retry)
    retry = null
    if (running) {
      again = true
      return
    }
    running = once().finally(() => {
      running = null
      if (again) {
        again = false
        run()
      }
    })
  }

  return {
    run,
    stop() {
      stopped = true
      if (retry) clearTimeout(retry)
    },
  }
}
