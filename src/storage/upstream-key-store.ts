import { and, eq } from 'drizzle-orm'
import type { Db } from './database.ts'
import { disabledUpstreamKeys } from './schema.ts'

export interface DisabledKeyRow {
  provider: string
  fingerprint: string
  reason: string
  disabledAt: number
}

/** Disabled upstream keys, by provider and key fingerprint. */
export function createUpstreamKeyStore(db: Db) {
  return {
    async listDisabled(): Promise<DisabledKeyRow[]> {
      const rows = await db.select().from(disabledUpstreamKeys)
      return rows.map((r) => ({ provider: r.provider, fingerprint: r.fingerprint, reason: r.reason, disabledAt: r.disabledAt.getTime() }))
    },
    async setDisabled(row: DisabledKeyRow): Promise<void> {
      const values = { ...row, disabledAt: new Date(row.disabledAt) }
      await db
        .insert(disabledUpstreamKeys)
        .values(values)
        .onConflictDoUpdate({ target: [disabledUpstreamKeys.provider, disabledUpstreamKeys.fingerprint], set: values })
    },
    async clearDisabled(provider: string, fingerprint: string): Promise<void> {
      await db
        .delete(disabledUpstreamKeys)
        .where(and(eq(disabledUpstreamKeys.provider, provider), eq(disabledUpstreamKeys.fingerprint, fingerprint)))
    },
  }
}
