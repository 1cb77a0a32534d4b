import { and, eq, gt, lte } from 'drizzle-orm'
import { kvEntryText, type JsonValue, type KvStore } from '../adapters/kit/kv.ts'
import type { Sealing } from '../adapters/accounts.ts'
import { isPg, sameEngine, type Db, type SqliteDb } from './engine.ts'
import { pgAdapterKvQueries } from './pg/adapter-kv-queries.ts'
import { adapterKv } from './schema.ts'

export type KvRow = typeof adapterKv.$inferSelect

/** What the adapter value store needs from its engine. */
export interface AdapterKvQueries {
  /** An account's values that are live at `now`. */
  load(provider: string, account: string, now: Date): Promise<KvRow[]>
  /** With one short try (`background`), like `remove`: adapters call them while serving a request. */
  upsert(row: KvRow): Promise<void>
  remove(provider: string, account: string, key: string): Promise<void>
  /** Deletes values expired at `now`; how many. */
  prune(now: Date): Promise<number>
}

function sqliteAdapterKvQueries(db: SqliteDb, background: SqliteDb): AdapterKvQueries {
  return {
    load: async (provider, account, now) =>
      db.select().from(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), gt(adapterKv.expiresAt, now))),
    async upsert(row) {
      await background.insert(adapterKv).values(row).onConflictDoUpdate({ target: [adapterKv.provider, adapterKv.account, adapterKv.key], set: { value: row.value, expiresAt: row.expiresAt } })
    },
    async remove(provider, account, key) {
      await background.delete(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), eq(adapterKv.key, key)))
    },
    async prune(now) {
      return (await db.delete(adapterKv).where(lte(adapterKv.expiresAt, now)).returning({ key: adapterKv.key })).length
    },
  }
}

const MAX_VALUE_BYTES = 64 * 1024
const MAX_ENTRIES_PER_ACCOUNT = 10_000

/**
 * Adapters' per-account values in the database, so a conversation id or a token outlives a restart.
 * Values are sealed (they are often tokens). Each account's values are read once, on first use, and
 * then served from memory; a write goes to memory at once and to the database in the same call.
 */
export function createAdapterKvStore(db: Db, background: Db, sealing: () => Sealing | null, now: () => number, onError: (err: Error) => void) {
  const q = isPg(db) ? pgAdapterKvQueries(db, sameEngine(db, background)) : sqliteAdapterKvQueries(db, sameEngine(db, background))
  const accounts = new Map<string, Promise<Map<string, { text: string; expiresAt: number }>>>()
  const load = (provider: string, account: string) => {
    const id = `${provider}\u0000${account}`
    let loaded = accounts.get(id)
    if (!loaded) {
      loaded = (async () => {
        const entries = new Map<string, { text: string; expiresAt: number }>()
        const box = sealing()
        if (!box) return entries
        const rows = await q.load(provider, account, new Date(now()))
        for (const r of rows) {
          try {
            entries.set(r.key, { text: box.open(r.value), expiresAt: r.expiresAt.getTime() })
          } catch {
            // sealed with another key: as if absent
          }
        }
        return entries
      })()
      loaded.catch(() => accounts.delete(id))
      accounts.set(id, loaded)
    }
    return loaded
  }
  return {
    forAccount(provider: string, account: string): KvStore {
      return {
        async get(key) {
          const entries = await load(provider, account)
          const entry = entries.get(key)
          if (!entry) return undefined
          if (entry.expiresAt <= now()) {
            entries.delete(key)
            return undefined
          }
          return JSON.parse(entry.text) as JsonValue
        },
        async set(key, value, ttlMs) {
          const text = kvEntryText(key, value, ttlMs, MAX_VALUE_BYTES)
          const entries = await load(provider, account)
          if (!entries.has(key) && entries.size >= MAX_ENTRIES_PER_ACCOUNT) throw new RangeError(`an account keeps at most ${MAX_ENTRIES_PER_ACCOUNT} values`)
          const expiresAt = now() + ttlMs
          entries.set(key, { text, expiresAt })
          const box = sealing()
          if (!box) return
          const row = { provider, account, key, value: box.seal(text), expiresAt: new Date(expiresAt) }
          await q.upsert(row).catch(onError)
        },
        async delete(key) {
          const entries = await load(provider, account)
          entries.delete(key)
          await q.remove(provider, account, key).catch(onError)
        },
      }
    },
    /** Drops expired values; run with the request log's retention. */
    async prune(): Promise<number> {
      return q.prune(new Date(now()))
    },
  }
}

export type AdapterKvStore = ReturnType<typeof createAdapterKvStore>
