import { eq, sql } from 'drizzle-orm'
import type { PgDb } from '../engine.ts'
import type { SettingsQueries } from '../settings-store.ts'
import { settings } from './schema.ts'

/** A transaction of drizzle over Bun's client (what `db.transaction` hands its callback). */
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0]

export function pgSettingsQueries(db: PgDb): SettingsQueries {
  return {
    async get(key) {
      const [row] = await db.select().from(settings).where(eq(settings.key, key))
      return row?.value ?? null
    },
    async set(key, value, updatedAt) {
      await db.insert(settings).values({ key, value, updatedAt }).onConflictDoUpdate({ target: settings.key, set: { value, updatedAt } })
    },
    async claim(key, value, updatedAt) {
      await db.insert(settings).values({ key, value, updatedAt }).onConflictDoNothing()
      return (await this.get(key)) ?? value
    },
  }
}

/** Bumps a version setting inside `tx`, which running servers poll to pick up the change it commits with. */
export const bumpVersion = (tx: PgTx, key: string) =>
  tx
    .insert(settings)
    .values({ key, value: '1', updatedAt: new Date() })
    .onConflictDoUpdate({ target: settings.key, set: { value: sql`(${settings.value}::bigint + 1)::text`, updatedAt: new Date() } })
