import { desc, eq, gte, lt } from 'drizzle-orm'
import { isPg, sameEngine, type Db, type SqliteDb } from './engine.ts'
import { pgInstanceQueries } from './pg/instance-queries.ts'
import { instances } from './schema.ts'

export type InstanceRow = typeof instances.$inferSelect

/** What the instance store needs from its engine. */
export interface InstanceQueries {
  /** One short try (`background`): a heartbeat that fails is simply the next one. */
  beat(row: InstanceRow): Promise<void>
  stopped(id: string, at: Date): Promise<void>
  seenSince(since: Date): Promise<InstanceRow[]>
  /** Deletes rows last seen before `before`; how many. */
  prune(before: Date): Promise<number>
}

function sqliteInstanceQueries(db: SqliteDb, background: SqliteDb): InstanceQueries {
  return {
    async beat(row) {
      const { id: _id, ...set } = row
      await background.insert(instances).values(row).onConflictDoUpdate({ target: instances.id, set })
    },
    async stopped(id, at) {
      await background.update(instances).set({ stoppedAt: at, lastSeen: at, inflightRequests: 0, inflightStreams: 0 }).where(eq(instances.id, id))
    },
    seenSince: async (since) => db.select().from(instances).where(gte(instances.lastSeen, since)).orderBy(desc(instances.startedAt)),
    async prune(before) {
      return (await background.delete(instances).where(lt(instances.lastSeen, before)).returning({ id: instances.id })).length
    },
  }
}

/** What one instance says about itself in a heartbeat. */
export interface Heartbeat {
  id: string
  host: string
  version: string
  worker: number | null
  startedAt: number
  inflightRequests: number
  inflightStreams: number
  requestsPerMinute: number
}

/** An instance as the admin API shows it. */
export interface InstanceView {
  id: string
  host: string
  version: string
  worker: number | null
  started_at: string
  last_seen: string
  uptime_s: number
  /** up: heartbeats arrive; stale: some were missed; gone: stopped, or none for a minute. */
  status: 'up' | 'stale' | 'gone'
  stopped_at: string | null
  load: { inflight_requests: number; inflight_streams: number; requests_per_minute: number }
}

/** A heartbeat older than this and the instance is stale (three missed beats at the usual interval). */
export const STALE_AFTER_MS = 15_000
/** Not seen for a minute (or stopped): gone, and listed as such for a while. */
export const GONE_AFTER_MS = 60_000
/** How long a gone instance stays listed. */
export const GONE_LISTED_MS = 10 * 60_000
/** Rows not seen for this long are deleted. */
export const PRUNE_AFTER_MS = 3_600_000

/**
 * The sluice processes sharing this database. Each writes a heartbeat on a timer (never on the
 * request path) with one short try; the admin API lists who was seen lately.
 */
export function createInstanceStore(db: Db, background: Db) {
  const q = isPg(db) ? pgInstanceQueries(db, sameEngine(db, background)) : sqliteInstanceQueries(db, sameEngine(db, background))
  return {
    async beat(h: Heartbeat, now: number): Promise<void> {
      await q.beat({ ...h, startedAt: new Date(h.startedAt), lastSeen: new Date(now), stoppedAt: null })
    },
    /** A clean shutdown: listed as gone at once. */
    async stopped(id: string, now: number): Promise<void> {
      await q.stopped(id, new Date(now))
    },
    async list(now: number): Promise<InstanceView[]> {
      const rows = await q.seenSince(new Date(now - GONE_LISTED_MS))
      return rows.map((r) => {
        const seen = r.lastSeen.getTime()
        const age = now - seen
        const status = r.stoppedAt !== null || age > GONE_AFTER_MS ? 'gone' : age > STALE_AFTER_MS ? 'stale' : 'up'
        const until = r.stoppedAt?.getTime() ?? (status === 'up' ? now : seen)
        return {
          id: r.id,
          host: r.host,
          version: r.version,
          worker: r.worker,
          started_at: r.startedAt.toISOString(),
          last_seen: r.lastSeen.toISOString(),
          uptime_s: Math.max(0, Math.round((until - r.startedAt.getTime()) / 1000)),
          status,
          stopped_at: r.stoppedAt?.toISOString() ?? null,
          load: { inflight_requests: r.inflightRequests, inflight_streams: r.inflightStreams, requests_per_minute: r.requestsPerMinute },
        }
      })
    },
    async prune(now: number): Promise<number> {
      return q.prune(new Date(now - PRUNE_AFTER_MS))
    },
  }
}

export type InstanceStore = ReturnType<typeof createInstanceStore>

/**
 * Writes this instance's heartbeat every `everyMs` (and at once), prunes old rows about once a
 * minute, and marks the instance stopped when it stops. A failed write is reported and skipped.
 */
export function startHeartbeat(store: InstanceStore, beat: () => Heartbeat, now: () => number, everyMs: number, onError: (err: Error) => void): { stop(): Promise<void> } {
  let n = 0
  let running: Promise<void> = Promise.resolve()
  const once = () => {
    running = (async () => {
      try {
        await store.beat(beat(), now())
        if (n++ % Math.max(1, Math.round(60_000 / everyMs)) === 0) await store.prune(now())
      } catch (err) {
        onError(err as Error)
      }
    })()
  }
  once()
  const timer = setInterval(once, everyMs)
  return {
    async stop() {
      clearInterval(timer)
      await running
      await store.stopped(beat().id, now()).catch(onError)
    },
  }
}
