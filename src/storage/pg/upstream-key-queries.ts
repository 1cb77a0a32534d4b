import { and, eq } from 'drizzle-orm'
import type { PgDb } from '../engine.ts'
import type { UpstreamKeyQueries } from '../upstream-key-store.ts'
import { disabledUpstreamKeys } from './schema.ts'

export function pgUpstreamKeyQueries(db: PgDb, background: PgDb): UpstreamKeyQueries {
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
