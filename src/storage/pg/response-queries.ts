import { and, eq, gt, lt } from 'drizzle-orm'
import type { PgDb } from '../engine.ts'
import type { ResponseQueries } from '../response-store.ts'
import { storedResponses } from './schema.ts'

export function pgResponseQueries(db: PgDb): ResponseQueries {
  return {
    async insert(rows) {
      // The store writes at most 200 rows of 6 columns at a time: far below the parameter limit.
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
