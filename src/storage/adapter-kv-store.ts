import { and, eq, gt, lte } from 'drizzle-orm'
import { kvEntryText, type JsonValue, type KvStore } from '../adapters/kit/kv.ts'
import type { Sealing } from '../adapters/accounts.ts'
import type { Db } from './database.ts'
import { adapterKv } from './schema.ts'

const MAX_VALUE_BYTES = 64 * 1024
const MAX_ENTRIES_PER_ACCOUNT = 10_000

/**
 * Adapters' per-account values in the database, so a conversation id or a token outlives a restart.
 * Values are sealed (they are often tokens). Each account's values are read once, on first use, and
 * then served from memory; a write goes to memory at once and to the database in the same call.
 */
export function createAdapterKvStore(db: Db, background: Db, sealing: () => Sealing | null, now: () => number, onError: (err: Error) => void) {
  const accounts = new Map<string, Promise<Map<string, { text: string; expiresAt: number }>>>()
  const load = (provider: string, account: string) => {
    const id = `${provider}\u0000${account}`
    let loaded = accounts.get(id)
    if (!loaded) {
      loaded = (async () => {
        const entries = new Map<string, { text: string; expiresAt: number }>()
        const box = sealing()
        if (!box) return entries
        const rows = await db.select().from(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), gt(adapterKv.expiresAt, new Date(now()))))
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
          await background.insert(adapterKv).values(row).onConflictDoUpdate({ target: [adapterKv.provider, adapterKv.account, adapterKv.key], set: { value: row.value, expiresAt: row.expiresAt } }).catch(onError)
        },
        async delete(key) {
          const entries = await load(provider, account)
          entries.delete(key)
          await background.delete(adapterKv).where(and(eq(adapterKv.provider, provider), eq(adapterKv.account, account), eq(adapterKv.key, key))).catch(onError)
        },
      }
    },
    /** Drops expired values; run with the request log's retention. */
    async prune(): Promise<number> {
      const removed = await db.delete(adapterKv).where(lte(adapterKv.expiresAt, new Date(now()))).returning({ key: adapterKv.key })
      return removed.length
    },
  }
}

export type AdapterKvStore = ReturnType<typeof createAdapterKvStore>
