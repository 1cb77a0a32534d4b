import { eq } from 'drizzle-orm'
import { ACCOUNTS_VERSION_SETTING, type AccountQueries } from '../account-store.ts'
import type { PgDb } from '../engine.ts'
import { accounts } from './schema.ts'
import { bumpVersion } from './settings-queries.ts'

export function pgAccountQueries(db: PgDb): AccountQueries {
  return {
    list: async () => db.select().from(accounts).orderBy(accounts.createdAt),
    async get(id) {
      const [row] = await db.select().from(accounts).where(eq(accounts.id, id))
      return row ?? null
    },
    async write(w) {
      await db.transaction(async (tx) => {
        await bumpVersion(tx, ACCOUNTS_VERSION_SETTING)
        if (w.op === 'insert') await tx.insert(accounts).values(w.row)
        else if (w.op === 'update') await tx.update(accounts).set(w.set).where(eq(accounts.id, w.id))
        else await tx.delete(accounts).where(eq(accounts.id, w.id))
      })
    },
  }
}
