import { eq } from 'drizzle-orm'
import { isPg, type Db, type SqliteDb } from './engine.ts'
import { pgSettingsQueries } from './pg/settings-queries.ts'
import { settings } from './schema.ts'

/** What the settings store needs from its engine. */
export interface SettingsQueries {
  get(key: string): Promise<string | null>
  set(key: string, value: string, at: Date): Promise<void>
  /** Stores the value unless the key has one; returns the value stored now (ours or the earlier one). */
  claim(key: string, value: string, at: Date): Promise<string>
}

function sqliteSettingsQueries(db: SqliteDb): SettingsQueries {
  return {
    async get(key) {
      const [row] = await db.select().from(settings).where(eq(settings.key, key))
      return row?.value ?? null
    },
    async set(key, value, updatedAt) {
      await db.insert(settings).values({ key, value, updatedAt }).onConflictDoUpdate({ target: settings.key, set: { value, updatedAt } })
    },
    async claim(key, value, updatedAt) {
      await db.insert(settings).values({ key, value, updatedAt }).onConflictDoNothing()
      return (await this.get(key)) ?? value
    },
  }
}

/** Named values kept across restarts. */
export function createSettingsStore(db: Db) {
  const q = isPg(db) ? pgSettingsQueries(db) : sqliteSettingsQueries(db)
  return {
    get: (key: string): Promise<string | null> => q.get(key),
    set: (key: string, value: string): Promise<void> => q.set(key, value, new Date()),
    /** The first value for a key wins, whichever process stored it (instances starting together). */
    claim: (key: string, value: string): Promise<string> => q.claim(key, value, new Date()),
  }
}

export type SettingsStore = ReturnType<typeof createSettingsStore>
