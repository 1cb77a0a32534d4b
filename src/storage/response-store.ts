import { and, eq, gt, lt } from 'drizzle-orm'
import type { StoredResponse } from '../gateway/ports.ts'
import type { Logger } from '../observability/logger.ts'
import type { Db } from './database.ts'
import { storedResponses } from './schema.ts'


/**
 * Stored responses. A save is kept in memory until its row is written, so a client that continues
 * at once (before the write) still finds it; a failed write is retried by `flush()`.
 */
const MAX_PENDING = 1000


export function createResponseStore(db: Db, logger: Logger, now: () => number = Date.now) {
  const pending = new Map<string, StoredResponse>()
  const writing = new Set<string>()

  async function write(r: StoredResponse): Promise<void> {
    if (writing.has(r.id)) return
    writing.add(r.id)
    try {
      await db
        .insert(storedResponses)
        .values({ id: r.id, clientKeyId: r.clientKeyId, createdAt: new Date(r.createdAt), expiresAt: new Date(r.expiresAt), input: JSON.stringify(r.input), response: JSON.stringify(r.response) })
        .onConflictDoNothing()
      if (pending.get(r.id) === r) pending.delete(r.id)
    } catch (err) {
      logger.warn({ err: (err as Error).message, id: r.id }, 'could not store a response; will retry')
    } finally {
      writing.delete(r.id)
    }
  }

  return {
    async get(id: string, clientKeyId: string): Promise<StoredResponse | null> {
      const held = pending.get(id)
      if (held) return held.clientKeyId === clientKeyId && held.expiresAt > now() ? held : null
      const rows = await db
        .select()
        .from(storedResponses)
        .where(and(eq(storedResponses.id, id), eq(storedResponses.clientKeyId, clientKeyId), gt(storedResponses.expiresAt, new Date(now()))))
        .limit(1)
      const r = rows[0]
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
      void write(r)
    },
    async delete(id: string, clientKeyId: string): Promise<boolean> {
      const held = pending.get(id)
      if (held && held.clientKeyId === clientKeyId) pending.delete(id)
      const gone = await db
        .delete(storedResponses)
        .where(and(eq(storedResponses.id, id), eq(storedResponses.clientKeyId, clientKeyId)))
        .returning({ id: storedResponses.id })
      return gone.length > 0 || (held !== undefined && held.clientKeyId === clientKeyId)
    },
    /** Deletes expired responses; returns how many. */
    async prune(): Promise<number> {
      for (const [id, r] of pending) if (r.expiresAt <= now()) pending.delete(id)
      const gone = await db.delete(storedResponses).where(lt(storedResponses.expiresAt, new Date(now()))).returning({ id: storedResponses.id })
      return gone.length
    },
    /** Writes what could not be written when it was saved. */
    async flush(): Promise<void> {
      for (const r of [...pending.values()]) await write(r)
    },
    get pending(): number {
      return pending.size
    },
  }
}

export type ResponseStoreImpl = ReturnType<typeof createResponseStore>
