import { and, eq } from 'drizzle-orm'
import type { PgDb } from '../engine.ts'
import { MANAGED_VERSION_SETTING, type ManagedKind, type ManagedQueries } from '../managed-store.ts'
import { managedEntries } from './schema.ts'
import { bumpVersion } from './settings-queries.ts'

export function pgManagedQueries(db: PgDb): ManagedQueries {
  const where = (kind: string, name: string) => and(eq(managedEntries.kind, kind), eq(managedEntries.name, name))
  return {
    list: async () => db.select().from(managedEntries).orderBy(managedEntries.createdAt, managedEntries.name),
    async get(kind: ManagedKind, name: string) {
      const [row] = await db.select().from(managedEntries).where(where(kind, name))
      return row ?? null
    },
    async put(row, renamedFrom) {
      // The version first: every writer of these rows takes that lock first, so none deadlock.
      await db.transaction(async (tx) => {
        await bumpVersion(tx, MANAGED_VERSION_SETTING)
        await tx.insert(managedEntries).values(row).onConflictDoUpdate({ target: [managedEntries.kind, managedEntries.name], set: { enabled: row.enabled, spec: row.spec, updatedAt: row.updatedAt } })
        if (renamedFrom !== null) await tx.delete(managedEntries).where(where(row.kind, renamedFrom))
      })
    },
    async remove(kind, name) {
      await db.transaction(async (tx) => {
        await bumpVersion(tx, MANAGED_VERSION_SETTING)
        await tx.delete(managedEntries).where(where(kind, name))
      })
    },
  }
}
