import { and, eq, gt, lt } from 'drizzle-orm'
import type { StoredResponse } from '../gateway/ports.ts'
import type { Logger } from '../observability/logger.ts'
import { isPg, type Db, type SqliteDb } from './engine.ts'
import { pgResponseQueries } from './pg/response-queries.ts'
import { storedResponses } from './schema.ts'

export type ResponseRow = typeof storedResponses.$inferSelect

/** What the response store needs from its engine. */
export interface ResponseQueries {
  /** Rows whose id is already stored are left as they are. */
  insert(rows: readonly ResponseRow[]): Promise<void>
  /** The live row of that id and client key. */
  find(id: string, clientKeyId: string, now: Date): Promise<ResponseRow | null>
  /** Whether a row was deleted. */
  remove(id: string, clientKeyId: string): Promise<boolean>
  /** Deletes rows expired before `now`; how many. */
  prune(now: Date): Promise<number>
}

function sqliteResponseQueries(db: SqliteDb): ResponseQueries {
  return {
    async insert(rows) {
      await db.insert(storedResponses).values([...rows]).onConflictDoNothing()
    },
    async find(id, clientKeyId, now) {
      const [row] = await db
        .select()
        .from(storedResponses)
        .where(and(eq(storedResponses.id, id), eq(storedResponses.clientKeyId, clientKeyId), gt(storedResponses.expiresAt, now)))
        .limit(1)
      return row ?? null
    },
    async remove(id, clientKeyId) {
      const gone = await db.delete(storedResponses).where(and(eq(storedResponses.id, id), eq(storedResponses.clientKeyId, clientKeyId))).returning({ id: storedResponses.id })
      return gone.length > 0
    },
    async prune(now) {
      return (await db.delete(storedResponses).where(lt(storedResponses.expiresAt, now)).returning({ id: storedResponses.id })).length
    },
  }
}

/**
 * Stored responses. A save is kept in memory until its row is written, so a client that continues
 * at once (before the write) still finds it; a failed write is retried by `flush()`.
 */
const MAX_PENDING = 1000
/** Rows per insert, and how long a save waits for others to join it. */
const BATCH = 200
const WRITE_DELAY_MS = 50


export function createResponseStore(db: Db, logger: Logger, now: () => number = Date.now) {
  const q = isPg(db) ? pgResponseQueries(db) : sqliteResponseQueries(db)
  const pending = new Map<string, StoredResponse>()
  let timer: ReturnType<typeof setTimeout> | null = null
  let writing: Promise<void> | null = null

  /** Writes what is pending in one statement: a busy gateway keeps many answers a second. */
  async function writeBatch(): Promise<void> {
    const batch = [...pending.values()].slice(0, BATCH)
    if (batch.length === 0) return
    try {
      await q.insert(batch.map((r) => ({
        id: r.id, clientKeyId: r.clientKeyId, createdAt: new Date(r.createdAt), expiresAt: new Date(r.expiresAt),
        input: r.serialized?.input ?? JSON.stringify(r.input), response: r.serialized?.response ?? JSON.stringify(r.response),
      })))
      for (const r of batch) if (pending.get(r.id) === r) pending.delete(r.id)
    } catch (err) {
      logger.warn({ err: (err as Error).message, count: batch.length }, 'could not store responses; will retry')
    }
  }

  function schedule(): void {
    if (timer || writing) return
    timer = setTimeout(() => {
      timer = null
      writing = writeBatch().finally(() => {
        writing = null
        if (pending.size > 0 && pending.size >= BATCH) schedule()
      })
    }, WRITE_DELAY_MS)
  }

  return {
    async get(id: string, clientKeyId: string): Promise<StoredResponse | null> {
      const held = pending.get(id)
      if (held) return held.clientKeyId === clientKeyId && held.expiresAt > now() ? held : null
      const r = await q.find(id, clientKeyId, new Date(now()))
      if (!r) return null
      return { id: r.id, clientKeyId: r.clientKeyId, createdAt: r.createdAt.getTime(), expiresAt: r.expiresAt.getTime(), input: JSON.parse(r.input), response: JSON.parse(r.response) }
    },
    save(r: StoredResponse): void {
      pending.set(r.id, r)
      // Saves the database cannot take do not pile up without bound: the oldest are given up.
      while (pending.size > MAX_PENDING) {
        const oldest = pending.keys().next().value!
        pending.delete(oldest)
        logger.warn({ id: oldest }, 'a stored response could not be written and was given up')
      }
      schedule()
    },
    async delete(id: string, clientKeyId: string): Promise<boolean> {
      const held = pending.get(id)
      const mine = held !== undefined && held.clientKeyId === clientKeyId
      if (mine) pending.delete(id)
      const gone = await q.remove(id, clientKeyId)
      return gone || mine
    },
    /** Deletes expired responses; returns how many. */
    async prune(): Promise<number> {
      for (const [id, r] of pending) if (r.expiresAt <= now()) pending.delete(id)
      return q.prune(new Date(now()))
    },
    /** Writes everything still pending (the server's flusher, and on stop). */
    async flush(): Promise<void> {
      if (timer) {
        clearTimeout(timer)
        timer = null
      }
      await writing
      while (pending.size > 0) {
        const before = pending.size
        await writeBatch()
        if (pending.size >= before) break
      }
    },
    get pending(): number {
      return pending.size
    },
  }
}

export type ResponseStoreImpl = ReturnType<typeof createResponseStore>
