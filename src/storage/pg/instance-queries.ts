import { desc, eq, gte, lt } from 'drizzle-orm'
import type { InstanceQueries } from '../instance-store.ts'
import type { PgDb } from '../engine.ts'
import { instances } from './schema.ts'

export function pgInstanceQueries(db: PgDb, background: PgDb): InstanceQueries {
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
