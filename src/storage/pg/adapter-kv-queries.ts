import { and, eq, gt, lte } from 'drizzle-orm'
import type { AdapterKvQueries } from '../adapter-kv-store.ts'
import type { PgDb } from '../engine.ts'
import { adapterKv } from './schema.ts'

export function pgAdapterKvQueries(db: PgDb, background: PgDb): AdapterKvQueries {
  return {
    load: async (provider, account, now) =>
      db.select().from(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), gt(adapterKv.expiresAt, now))),
    async upsert(row) {
      await background.insert(adapterKv).values(row).onConflictDoUpdate({ target: [adapterKv.provider, adapterKv.account, adapterKv.key], set: { value: row.value, expiresAt: row.expiresAt } })
    },
    async remove(provider, account, key) {
      await background.delete(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), eq(adapterKv.key, key)))
    },
    async prune(now) {
      return (await db.delete(adapterKv).where(lte(adapterKv.expiresAt, now)).returning({ key: adapterKv.key })).length
    },
  }
}
