import { eq, sql } from 'drizzle-orm'
import { randomToken } from '../lib/crypto.ts'
import { isPg, rawQuery, type Db, type RawClient, type SqliteDb } from './engine.ts'
import { pgAccountQueries } from './pg/account-queries.ts'
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

export const ACCOUNTS_VERSION_SETTING = 'accounts_version'

type Row = typeof accounts.$inferSelect
type Insert = typeof accounts.$inferInsert

/** A change to one account, written with a version bump in one transaction. */
export type AccountWrite = { op: 'insert'; row: Insert } | { op: 'update'; id: string; set: Partial<Insert> } | { op: 'delete'; id: string }

/** What the account store needs from its engine. */
export interface AccountQueries {
  list(): Promise<Row[]>
  get(id: string): Promise<Row | null>
  write(change: AccountWrite): Promise<void>
}

function sqliteAccountQueries(db: SqliteDb): AccountQueries {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: ACCOUNTS_VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({ target: settings.key, set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() } })
  return {
    list: async () => db.select().from(accounts).orderBy(accounts.createdAt),
    async get(id) {
      const [row] = await db.select().from(accounts).where(eq(accounts.id, id))
      return row ?? null
    },
    async write(w) {
      const change =
        w.op === 'insert' ? db.insert(accounts).values(w.row) : w.op === 'update' ? db.update(accounts).set(w.set).where(eq(accounts.id, w.id)) : db.delete(accounts).where(eq(accounts.id, w.id))
      await db.batch([bump(), change])
    },
  }
}

const fromRow = (r: Row): StoredAccount => ({
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
export function createAccountStore(db: Db, client: RawClient) {
  const q = isPg(db) ? pgAccountQueries(db) : sqliteAccountQueries(db)
  return {
    async list(): Promise<StoredAccount[]> {
      return (await q.list()).map(fromRow)
    },
    async get(id: string): Promise<StoredAccount | null> {
      const row = await q.get(id)
      return row ? fromRow(row) : null
    },
    async create(input: { provider: string; label: string | null; sealedCredentials: string; expiresAt: number | null }, now: number): Promise<StoredAccount> {
      const id = 'acct_' + randomToken(16)
      const at = new Date(now)
      await q.write({ op: 'insert', row: { id, provider: input.provider, label: input.label, credentials: input.sealedCredentials, expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt), createdAt: at, updatedAt: at } })
      return (await this.get(id))!
    },
    /** New credentials (a refresh, a rotated token): written before they are used. */
    async saveCredentials(id: string, sealedCredentials: string, expiresAt: number | null, now: number): Promise<void> {
      await q.write({ op: 'update', id, set: { credentials: sealedCredentials, expiresAt: expiresAt === null ? null : new Date(expiresAt), updatedAt: new Date(now) } })
    },
    async setEnabled(id: string, enabled: boolean, reason: string | null, now: number): Promise<boolean> {
      if (!(await this.get(id))) return false
      await q.write({ op: 'update', id, set: { enabled, disabledReason: enabled ? null : reason, updatedAt: new Date(now) } })
      return true
    },
    async remove(id: string): Promise<boolean> {
      if (!(await this.get(id))) return false
      await q.write({ op: 'delete', id })
      return true
    },
    async version(): Promise<number> {
      const [row] = await rawQuery(client, 'SELECT value FROM settings WHERE key = ?', [ACCOUNTS_VERSION_SETTING])
      return row ? Number(row.value) : 0
    },
  }
}

export type AccountStore = ReturnType<typeof createAccountStore>
