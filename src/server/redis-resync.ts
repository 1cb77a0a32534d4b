import type { QuotaPolicy } from '../config/schema.ts'
import type { PeriodUsage } from '../gateway/access/limits/store.ts'
import { periodEnd, periodStart } from '../lib/periods.ts'
import type { Logger } from '../observability/logger.ts'
import type { RedisLimitStore } from '../scale/redis/limit-store.ts'
import type { SharedLimiter } from '../scale/shared-limiter.ts'
import type { UsageRow } from '../storage/usage-store.ts'

/** How far back the database is read: no quota period is longer than a month. */
const LOOKBACK_MS = 32 * 86_400_000
/** Seeds sent at once: the client pipelines them. */
const BATCH = 200
const RETRY_MS = 1_000
/** How soon to look again while another instance seeds. */
const WAIT_FOR_SEED_MS = 200
const NOTHING: PeriodUsage = { requests: 0, tokens: 0, costUsd: 0 }

export interface ResyncParts {
  store: Pick<RedisLimitStore, 'generation' | 'claimSeeding' | 'seed' | 'finishSeeding' | 'abandonSeeding'>
  limiter: Pick<SharedLimiter, 'syncWith'>
  /** Bumps the database's usage cut and reads the usage since `from`, in one transaction. */
  seedCut(from: number): Promise<{ cut: number; rows: UsageRow[] }>
  /** Makes sure the cut exists before anything is saved against it. */
  ensureCut(): Promise<void>
  /** The client keys that have a quota (revoked ones left out). */
  quotaKeys(): Promise<Array<{ id: string; quota: QuotaPolicy }>>
  /** What else may have been missed while disconnected (messages): read again. */
  catchUp(): Promise<void>
  logger: Logger
  now: () => number
}

const keyOf = (keyId: string, start: number) => `${keyId}\u0000${start}`

/**
 * What runs after every (re)connect, and whenever usage was counted that Redis lacks: when Redis
 * has no quota counters (it restarted empty), one instance (holding the seeding lock) sets the
 * current periods from the database and names the generation; then this instance adds what that
 * generation lacks of its usage (usage-ledger.ts) and reads what messages it may have missed. A
 * failure is retried until it succeeds; a resync asked for while one runs runs again after it.
 */
export function createResync(parts: ResyncParts): { run(): void; soon(): void; stop(): void } {
  let running: Promise<void> | null = null
  let again = false
  let retry: ReturnType<typeof setTimeout> | null = null
  let stopped = false
  let cutReady = false

  /** Seeds Redis from the database; the generation, or null when the lock was lost. */
  async function seed(token: string): Promise<number | null> {
    const { store, logger } = parts
    const now = parts.now()
    const { cut, rows } = await parts.seedCut(now - LOOKBACK_MS)
    const stored = new Map(rows.map((r) => [keyOf(r.keyId, r.periodStart), r.usage]))
    const keys = await parts.quotaKeys()
    for (let i = 0; i < keys.length; i += BATCH) {
      const results = await Promise.allSettled(
        keys.slice(i, i + BATCH).map(({ id, quota: q }) => {
          const start = periodStart(now, q.period, q.resetTime, q.timezone)
          // Every key is seeded, with nothing where the database has nothing.
          return store.seed(token, id, start, stored.get(keyOf(id, start)) ?? NOTHING, periodEnd(now, q.period, q.resetTime, q.timezone))
        }),
      )
      const failure = results.find((r) => r.status === 'rejected')
      if (failure) throw failure.reason
      if (results.some((r) => r.status === 'fulfilled' && !r.value)) return null
    }
    if (!(await store.finishSeeding(token, cut))) return null
    logger.info({ keys: keys.length, generation: cut }, 'quota counters reseeded in Redis from the database')
    return cut
  }

  /** Whether it is over; false: try again (soon when another instance is seeding). */
  async function once(): Promise<boolean | 'wait'> {
    const { store, limiter, logger } = parts
    try {
      if (!cutReady) {
        await parts.ensureCut()
        cutReady = true
      }
      let generation = await store.generation()
      if (generation === null) {
        const claim = await store.claimSeeding()
        if (claim === null) return 'wait'
        if ('generation' in claim) generation = claim.generation
        else {
          const { token } = claim
          // A failed seed gives its lock back: the retry (here or elsewhere) need not wait for it to run out.
          generation = await seed(token).catch(async (err) => {
            await store.abandonSeeding(token).catch(() => {})
            throw err
          })
        }
        if (generation === null) return 'wait'
      }
      await limiter.syncWith(generation)
    } catch (err) {
      logger.warn({ err: (err as Error)?.message ?? String(err) }, 'could not resync the shared limits with Redis; retrying')
      return false
    }
    await parts.catchUp().catch((err) => logger.warn({ err: (err as Error).message }, 'could not catch up after reconnecting to Redis'))
    return true
  }

  function run(): void {
    if (stopped) return
    if (retry) clearTimeout(retry)
    retry = null
    if (running) {
      again = true
      return
    }
    running = once().then((over) => {
      running = null
      // While another instance seeds, asking again does not hurry it.
      if (again && over !== 'wait') {
        again = false
        return run()
      }
      again = false
      if (over === true || stopped) return
      retry = setTimeout(run, over === 'wait' ? WAIT_FOR_SEED_MS : RETRY_MS)
      retry.unref?.()
    })
  }

  return {
    run,
    /** A resync unless one runs or waits already: what a request path may call as often as it likes. */
    soon() {
      if (running) again = true
      else if (!retry) run()
    },
    stop() {
      stopped = true
      if (retry) clearTimeout(retry)
    },
  }
}
