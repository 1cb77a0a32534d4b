import { and, eq, sql } from 'drizzle-orm'
import { isPg, rawQuery, type Db, type RawClient, type SqliteDb } from './engine.ts'
import { pgManagedQueries } from './pg/managed-queries.ts'
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

export const MANAGED_VERSION_SETTING = 'managed_entries_version'

export type ManagedRow = typeof managedEntries.$inferSelect

/** What the managed store needs from its engine; every write bumps the version in its transaction. */
export interface ManagedQueries {
  list(): Promise<ManagedRow[]>
  get(kind: ManagedKind, name: string): Promise<ManagedRow | null>
  /** Adds or replaces `row`; deletes the entry `renamedFrom` in the same transaction. */
  put(row: ManagedRow, renamedFrom: string | null): Promise<void>
  remove(kind: ManagedKind, name: string): Promise<void>
}

function sqliteManagedQueries(db: SqliteDb): ManagedQueries {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: MANAGED_VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({ target: settings.key, set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() } })
  const where = (kind: string, name: string) => and(eq(managedEntries.kind, kind), eq(managedEntries.name, name))
  return {
    list: async () => db.select().from(managedEntries).orderBy(managedEntries.createdAt, managedEntries.name),
    async get(kind, name) {
      const [row] = await db.select().from(managedEntries).where(where(kind, name))
      return row ?? null
    },
    async put(row, renamedFrom) {
      const upsert = db.insert(managedEntries).values(row).onConflictDoUpdate({ target: [managedEntries.kind, managedEntries.name], set: { enabled: row.enabled, spec: row.spec, updatedAt: row.updatedAt } })
      if (renamedFrom !== null) await db.batch([bump(), upsert, db.delete(managedEntries).where(where(row.kind, renamedFrom))])
      else await db.batch([bump(), upsert])
    },
    async remove(kind, name) {
      await db.batch([bump(), db.delete(managedEntries).where(where(kind, name))])
    },
  }
}

/**
 * Providers, aliases and prices kept in the database. Every change bumps a version in the same
 * batch, which running servers poll, so an edit made through one process is in force in all.
 */
export function createManagedStore(db: Db, client: RawClient) {
  const q = isPg(db) ? pgManagedQueries(db) : sqliteManagedQueries(db)
  const fromRow = (r: ManagedRow): ManagedEntry => ({
    kind: r.kind as ManagedKind,
    name: r.name,
    enabled: r.enabled,
    spec: r.spec,
    createdAt: r.createdAt.getTime(),
    updatedAt: r.updatedAt.getTime(),
  })
  return {
    async list(): Promise<ManagedEntry[]> {
      return (await q.list()).map(fromRow)
    },
    async get(kind: ManagedKind, name: string): Promise<ManagedEntry | null> {
      const row = await q.get(kind, name)
      return row ? fromRow(row) : null
    },
    /** Adds or replaces an entry; `renamedFrom` replaces the entry of that name in the same batch. */
    async put(entry: { kind: ManagedKind; name: string; enabled: boolean; spec: Record<string, unknown> }, now: number, renamedFrom?: string): Promise<void> {
      const previous = await this.get(entry.kind, renamedFrom ?? entry.name)
      const row = { ...entry, createdAt: new Date(previous?.createdAt ?? now), updatedAt: new Date(now) }
      await q.put(row, renamedFrom !== undefined && renamedFrom !== entry.name ? renamedFrom : null)
    },
    async remove(kind: ManagedKind, name: string): Promise<boolean> {
      const existed = (await this.get(kind, name)) !== null
      if (existed) await q.remove(kind, name)
      return existed
    },
    /** Polled about once a second: one plain query. */
    async version(): Promise<number> {
      const [row] = await rawQuery(client, 'SELECT value FROM settings WHERE key = ?', [MANAGED_VERSION_SETTING])
      return row ? Number(row.value) : 0
    },
  }
}

export type ManagedStore = ReturnType<typeof createManagedStore>
