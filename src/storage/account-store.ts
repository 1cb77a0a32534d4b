import type { Client } from '@libsql/client'
import { eq, sql } from 'drizzle-orm'
import { randomToken } from '../lib/crypto.ts'
import type { Db } from './database.ts'
import { accounts, settings } from './schema.ts'

/** An account as stored: its credentials still sealed. */
export interface StoredAccount {
  id: string
  provider: string
  label: string | null
  sealedCredentials: string
  expiresAt: number | null
  enabled: boolean
  disabledReason: string | null
  createdAt: number
  updatedAt: number
}

const VERSION_SETTING = 'accounts_version'

const fromRow = (r: typeof accounts.$inferSelect): StoredAccount => ({
  id: r.id,
  provider: r.provider,
  label: r.label,
  sealedCredentials: r.credentials,
  expiresAt: r.expiresAt?.getTime() ?? null,
  enabled: r.enabled,
  disabledReason: r.disabledReason,
  createdAt: r.createdAt.getTime(),
  updatedAt: r.updatedAt.getTime(),
})

/**
 * Accounts of module and flow providers. Every change bumps a version in the same batch, which
 * running servers poll: an account added by `sluice accounts login` is in the pool within a second.
 */
export function createAccountStore(db: Db, client: Client) {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({ target: settings.key, set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() } })
  return {
    async list(): Promise<StoredAccount[]> {
      return (await db.select().from(accounts).orderBy(accounts.createdAt)).map(fromRow)
    },
    async get(id: string): Promise<StoredAccount | null> {
      const [row] = await db.select().from(accounts).where(eq(accounts.id, id))
      return row ? fromRow(row) : null
    },
    async create(input: { provider: string; label: string | null; sealedCredentials: string; expiresAt: number | null }, now: number): Promise<StoredAccount> {
      const id = 'acct_' + randomToken(16)
      const at = new Date(now)
      await db.batch([
        db.insert(accounts).values({ id, provider: input.provider, label: input.label, credentials: input.sealedCredentials, expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt), createdAt: at, updatedAt: at }),
        bump(),
      ])
      return (await this.get(id))!
    },
    /** New credentials (a refresh, a rotated token): written before they are used. */
    async saveCredentials(id: string, sealedCredentials: string, expiresAt: number | null, now: number): Promise<void> {
      await db.batch([
        db.update(accounts).set({ credentials: sealedCredentials, expiresAt: expiresAt === null ? null : new Date(expiresAt), updatedAt: new Date(now) }).where(eq(accounts.id, id)),
        bump(),
      ])
    },
    async setEnabled(id: string, enabled: boolean, reason: string | null, now: number): Promise<boolean> {
      if (!(await this.get(id))) return false
      await db.batch([db.update(accounts).set({ enabled, disabledReason: enabled ? null : reason, updatedAt: new Date(now) }).where(eq(accounts.id, id)), bump()])
      return true
    },
    async remove(id: string): Promise<boolean> {
      if (!(await this.get(id))) return false
      await db.batch([db.delete(accounts).where(eq(accounts.id, id)), bump()])
      return true
    },
    async version(): Promise<number> {
      const rs = await client.execute({ sql: 'SELECT value FROM settings WHERE key = ?', args: [VERSION_SETTING] })
      return rs.rows[0] ? Number(rs.rows[0][0]) : 0
    },
  }
}

export type AccountStore = ReturnType<typeof createAccountStore>
