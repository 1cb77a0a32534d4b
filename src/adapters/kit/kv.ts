import type { Clock } from '../../lib/clock.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/**
 * An adapter's key-value store, one per account: session cookies, access tokens, conversation
 * ids. Every entry expires; values are JSON, stored as text, so what comes back is a copy.
 */
export interface KvStore {
  /** The value, or undefined when absent or expired. */
  get(key: string): Promise<JsonValue | undefined>
  /** Stores `value` for `ttlMs` milliseconds (a positive, finite number). */
  set(key: string, value: JsonValue, ttlMs: number): Promise<void>
  delete(key: string): Promise<void>
}

export interface MemoryKvOptions {
  /** Past this many entries the expired ones are dropped, then the oldest. */
  maxEntries?: number
  /** The longest value accepted, as JSON text in UTF-8 bytes. */
  maxValueBytes?: number
}

/** Checks a `set` as every store must, so the in-memory and database-backed ones refuse alike. */
export function kvEntryText(key: string, value: JsonValue, ttlMs: number, maxValueBytes: number): string {
  if (typeof key !== 'string' || key === '') throw new TypeError('a store key must be a non-empty string')
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a positive, finite number of milliseconds, not ${ttlMs}`)
  const text = JSON.stringify(value)
  if (text === undefined) throw new TypeError(`the value for "${key}" has no JSON form`)
  if (Buffer.byteLength(text) > maxValueBytes) throw new RangeError(`the value for "${key}" is larger than ${maxValueBytes} bytes`)
  return text
}

/** A store in memory, on the clock it is given: for tests, and for a single process. */
export function createMemoryKv(clock: Clock, options: MemoryKvOptions = {}): KvStore {
  const maxEntries = options.maxEntries ?? 10_000
  const maxValueBytes = options.maxValueBytes ?? 64 * 1024
  const entries = new Map<string, { text: string; expiresAt: number }>()

  const makeRoom = () => {
    const now = clock.now()
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
    // A Map iterates in insertion order, and `set` re-inserts: the first key is the oldest write.
    while (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
  }

  return {
    async get(key) {
      const entry = entries.get(key)
      if (!entry) return undefined
      if (entry.expiresAt <= clock.now()) {
        entries.delete(key)
        return undefined
      }
      return JSON.parse(entry.text) as JsonValue
    },
    async set(key, value, ttlMs) {
      const text = kvEntryText(key, value, ttlMs, maxValueBytes)
      entries.delete(key)
      if (entries.size >= maxEntries) makeRoom()
      entries.set(key, { text, expiresAt: clock.now() + ttlMs })
    },
    async delete(key) {
      entries.delete(key)
    },
  }
}
