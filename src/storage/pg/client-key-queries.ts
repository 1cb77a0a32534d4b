import { count, eq, sql } from 'drizzle-orm'
import { keyWhere, type ClientKeyQueries, type KeyWrite } from '../client-key-store.ts'
import type { PgDb } from '../engine.ts'
import { clientKeys } from './schema.ts'
import { bumpVersion, type PgTx } from './settings-queries.ts'

const VERSION_SETTING = 'client_keys_version'

function run(tx: PgTx, w: KeyWrite) {
  if (w.op === 'insert') return tx.insert(clientKeys).values(w.row)
  if (w.op === 'upsert') return tx.insert(clientKeys).values(w.row).onConflictDoUpdate({ target: clientKeys.id, set: w.set })
  return tx.update(clientKeys).set(w.set).where(eq(clientKeys.id, w.id))
}

const idOf = (w: KeyWrite) => (w.op === 'update' ? w.id : w.row.id)
const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export function pgClientKeyQueries(db: PgDb, background: PgDb): ClientKeyQueries {
  return {
    async select(filter, limit) {
      const query = db.select().from(clientKeys).where(keyWhere(filter, clientKeys))
      return limit === undefined ? query : query.limit(limit)
    },
    async count() {
      const [row] = await db.select({ n: count() }).from(clientKeys)
      return row?.n ?? 0
    },
    async write(writes) {
      // Rows in id order, as `touch` takes them: a sync and a touch of the same keys cannot deadlock.
      const sorted = [...writes].sort((a, b) => byId(idOf(a), idOf(b)))
      await db.transaction(async (tx) => {
        await bumpVersion(tx, VERSION_SETTING)
        for (const w of sorted) await run(tx, w)
      })
    },
    async touch(lastUsed) {
      // In id order, so that two instances touching the same keys take their row locks alike; a
      // time from another instance that is later stays.
      const sorted = [...lastUsed].sort(([a], [b]) => byId(a, b))
      await background.transaction(async (tx) => {
        for (const [id, at] of sorted) {
          await tx.update(clientKeys).set({ lastUsedAt: sql`greatest(${clientKeys.lastUsedAt}, ${new Date(at).toISOString()}::timestamptz)` }).where(eq(clientKeys.id, id))
        }
      })
    },
  }
}
