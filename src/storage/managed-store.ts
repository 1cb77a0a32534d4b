import { and, eq, sql } from 'drizzle-orm'
import type { Client } from '@libsql/client'
import type { Db } from './database.ts'
import { managedEntries, settings } from './schema.ts'

export type ManagedKind = 'provider' | 'alias' | 'price'

export interface ManagedEntry {
  kind: ManagedKind
  name: string
  enabled: boolean
  spec: Record<string, unknown>
  createdAt: number
  updatedAt: number
}

const VERSION_SETTING = 'managed_entries_version'

/**
 * Providers, aliases and prices kept in the database. Every change bumps a version in the same
 * batch, which running servers poll, so an edit made through one process is in force in all.
 */
export function createManagedStore(db: Db, client: Client) {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({ target: settings.key, set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() } })
  const where = (kind: ManagedKind, name: string) => and(eq(managedEntries.kind, kind), eq(managedEntries.name, name))
  const fromRow = (r: typeof managedEntries.$inferSelect): ManagedEntry => ({
    kind: r.kind as ManagedKind,
    name: r.name,
    enabled: r.enabled,
    spec: r.spec,
    createdAt: r.createdAt.getTime(),
    updatedAt: r.updatedAt.getTime(),
  })
  return {
    async list(): Promise<ManagedEntry[]> {
      return (await db.select().from(managedEntries).orderBy(managedEntries.createdAt, managedEntries.name)).map(fromRow)
    },
    async get(kind: ManagedKind, name: string): Promise<ManagedEntry | null> {
      const [row] = await db.select().from(managedEntries).where(where(kind, name))
      return row ? fromRow(row) : null
    },
    /** Adds or replaces an entry; `renamedFrom` replaces the entry of that name in the same batch. */
    async put(entry: { kind: ManagedKind; name: string; enabled: boolean; spec: Record<string, unknown> }, now: number, renamedFrom?: string): Promise<void> {
      const previous = await this.get(entry.kind, renamedFrom ?? entry.name)
      const row = { ...entry, createdAt: new Date(previous?.createdAt ?? now), updatedAt: new Date(now) }
      const upsert = db.insert(managedEntries).values(row).onConflictDoUpdate({ target: [managedEntries.kind, managedEntries.name], set: { enabled: row.enabled, spec: row.spec, updatedAt: row.updatedAt } })
      if (renamedFrom !== undefined && renamedFrom !== entry.name) await db.batch([upsert, db.delete(managedEntries).where(where(entry.kind, renamedFrom)), bump()])
      else await db.batch([upsert, bump()])
    },
    async remove(kind: ManagedKind, name: string): Promise<boolean> {
      const existed = (await this.get(kind, name)) !== null
      if (existed) await db.batch([db.delete(managedEntries).where(where(kind, name)), bump()])
      return existed
    },
    /** Polled about once a second: one plain query. */
    async version(): Promise<number> {
      const rs = await client.execute({ sql: 'SELECT value FROM settings WHERE key = ?', args: [VERSION_SETTING] })
      return rs.rows[0] ? Number(rs.rows[0][0]) : 0
    },
  }
}

export type ManagedStore = ReturnType<typeof createManagedStore>
