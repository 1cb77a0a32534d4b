import { eq, gte, sql } from 'drizzle-orm'
import { isPg, type Db, type SqliteDb } from './engine.ts'
import { pgUsageQueries } from './pg/usage-store-queries.ts'
import { clientKeyUsage, settings } from './schema.ts'

/**
 * The usage cut, a counter in `settings`: a Redis seed bumps it in the transaction that reads the
 * usage, and every save reads it in its own, so a save knows whether a seed's figures include it
 * (see src/scale/usage-ledger.ts).
 */
export const USAGE_CUT_KEY = 'usage_cut'

export interface UsageRow {
  keyId: string
  periodStart: number
  usage: { requests: number; tokens: number; costUsd: number }
}

/** What the usage store needs from its engine. */
export interface UsageStoreQueries {
  since(from: number): Promise<UsageRow[]>
  /** Adds each row's usage to what is stored (several processes share the table), never below zero; the cut seen. */
  add(rows: readonly UsageRow[]): Promise<number>
  /** Bumps the cut and reads the usage since `from`, in one transaction. */
  seedCut(from: number): Promise<{ cut: number; rows: UsageRow[] }>
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
      // One transaction: the upserts take the write lock first, so the cut read after them is ordered against any seed.
      const cut = db.select({ value: settings.value }).from(settings).where(eq(settings.key, USAGE_CUT_KEY))
      const results = first ? await db.batch([first, ...rest, cut]) : [await cut]
      return Number((results.at(-1) as Array<{ value: string }>)[0]?.value ?? 0)
    },
    async seedCut(from) {
      const [bumped, rows] = await db.batch([
        db
          .update(settings)
          .set({ value: sql`cast(cast(${settings.value} as integer) + 1 as text)`, updatedAt: new Date() })
          .where(eq(settings.key, USAGE_CUT_KEY))
          .returning({ value: settings.value }),
        db.select().from(clientKeyUsage).where(gte(clientKeyUsage.periodStart, new Date(from))),
      ])
      if (!bumped[0]) throw new Error('the usage cut is missing from settings')
      return { cut: Number(bumped[0].value), rows: rows.map(usageRow) }
    },
  }
}

/** Per-key quota usage by period, loaded at start and flushed in batches as increments. */
export function createUsageStore(db: Db) {
  const q = isPg(db) ? pgUsageQueries(db) : sqliteUsageQueries(db)
  return {
    since: (from: number): Promise<UsageRow[]> => q.since(from),
    /** Adds the rows; the usage cut the save saw, or null when there was nothing to save. */
    async save(rows: readonly UsageRow[]): Promise<number | null> {
      return rows.length > 0 ? q.add(rows) : null
    },
    seedCut: (from: number) => q.seedCut(from),
  }
}

export type UsageStore = ReturnType<typeof createUsageStore>
