import { gte, sql } from 'drizzle-orm'
import { isPg, type Db, type SqliteDb } from './engine.ts'
import { pgUsageQueries } from './pg/usage-store-queries.ts'
import { clientKeyUsage } from './schema.ts'

export interface UsageRow {
  keyId: string
  periodStart: number
  usage: { requests: number; tokens: number; costUsd: number }
}

/** What the usage store needs from its engine. */
export interface UsageStoreQueries {
  since(from: number): Promise<UsageRow[]>
  /** Adds each row's usage to what is stored (several processes share the table), never below zero. */
  add(rows: readonly UsageRow[]): Promise<void>
}

type Stored = typeof clientKeyUsage.$inferSelect
export const usageRow = (r: Stored): UsageRow => ({
  keyId: r.keyId,
  periodStart: r.periodStart.getTime(),
  usage: { requests: r.requests, tokens: r.tokens, costUsd: r.costUsd },
})

function sqliteUsageQueries(db: SqliteDb): UsageStoreQueries {
  return {
    async since(from) {
      return (await db.select().from(clientKeyUsage).where(gte(clientKeyUsage.periodStart, new Date(from)))).map(usageRow)
    },
    async add(rows) {
      const [first, ...rest] = rows.map((r) =>
        db
          .insert(clientKeyUsage)
          .values({ keyId: r.keyId, periodStart: new Date(r.periodStart), ...r.usage })
          .onConflictDoUpdate({
            target: [clientKeyUsage.keyId, clientKeyUsage.periodStart],
            // Increments: what this process used since its last save is added to what is there.
            set: {
              requests: sql`max(0, ${clientKeyUsage.requests} + excluded.requests)`,
              tokens: sql`max(0, ${clientKeyUsage.tokens} + excluded.tokens)`,
              costUsd: sql`max(0, ${clientKeyUsage.costUsd} + excluded.cost_usd)`,
            },
          }),
      )
      if (first) await db.batch([first, ...rest])
    },
  }
}

/** Per-key quota usage by period, loaded at start and flushed in batches as increments. */
export function createUsageStore(db: Db) {
  const q = isPg(db) ? pgUsageQueries(db) : sqliteUsageQueries(db)
  return {
    since: (from: number): Promise<UsageRow[]> => q.since(from),
    async save(rows: readonly UsageRow[]): Promise<void> {
      if (rows.length > 0) await q.add(rows)
    },
  }
}

export type UsageStore = ReturnType<typeof createUsageStore>
