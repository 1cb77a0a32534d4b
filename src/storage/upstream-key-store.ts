import { and, eq } from 'drizzle-orm'
import type { Db } from './database.ts'
import { disabledUpstreamKeys } from './schema.ts'

export interface DisabledKeyRow {
  provider: string
  fingerprint: string
  reason: string
  disabledAt: number
}

const keyOf = (provider: string, fingerprint: string) => `${provider}\u0000${fingerprint}`

/**
 * Disabled upstream keys, by provider and key fingerprint. A key is disabled on the request path,
 * so that write gets one short try (`background`); if the database is locked or failing it stays
 * pending and `flush()`, run by the server's flusher, writes it later.
 */
export function createUpstreamKeyStore(db: Db, background: Db = db) {
  const pending = new Map<string, DisabledKeyRow>()
  async function write(row: DisabledKeyRow): Promise<void> {
    const values = { ...row, disabledAt: new Date(row.disabledAt) }
    await background
      .insert(disabledUpstreamKeys)
      .values(values)
      .onConflictDoUpdate({ target: [disabledUpstreamKeys.provider, disabledUpstreamKeys.fingerprint], set: values })
    // Only what was written leaves the queue: a newer row for the key may have arrived meanwhile.
    const k = keyOf(row.provider, row.fingerprint)
    if (pending.get(k) === row) pending.delete(k)
  }
  return {
    async listDisabled(): Promise<DisabledKeyRow[]> {
      const rows = await db.select().from(disabledUpstreamKeys)
      const stored = rows.map((r) => ({ provider: r.provider, fingerprint: r.fingerprint, reason: r.reason, disabledAt: r.disabledAt.getTime() }))
      const unwritten = [...pending.values()].filter((p) => !stored.some((s) => s.provider === p.provider && s.fingerprint === p.fingerprint))
      return [...stored, ...unwritten]
    },
    async setDisabled(row: DisabledKeyRow): Promise<void> {
      pending.set(keyOf(row.provider, row.fingerprint), row)
      await write(row)
    },
    async clearDisabled(provider: string, fingerprint: string): Promise<void> {
      pending.delete(keyOf(provider, fingerprint))
      await db
        .delete(disabledUpstreamKeys)
        .where(and(eq(disabledUpstreamKeys.provider, provider), eq(disabledUpstreamKeys.fingerprint, fingerprint)))
    },
    /** Writes the disabled keys that could not be written when they happened. */
    async flush(): Promise<void> {
      for (const row of [...pending.values()]) await write(row)
    },
    get pending(): number {
      return pending.size
    },
  }
}
