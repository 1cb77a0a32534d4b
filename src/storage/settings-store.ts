import { eq } from 'drizzle-orm'
import type { Db } from './database.ts'
import { settings } from './schema.ts'

/** Named values kept across restarts. */
export function createSettingsStore(db: Db) {
  return {
    async get(key: string): Promise<string | null> {
      const [row] = await db.select().from(settings).where(eq(settings.key, key))
      return row?.value ?? null
    },
    async set(key: string, value: string): Promise<void> {
      const updatedAt = new Date()
      await db
        .insert(settings)
        .values({ key, value, updatedAt })
        .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt } })
    },
  }
}

export type SettingsStore = ReturnType<typeof createSettingsStore>
