import { gte, sql } from 'drizzle-orm'
import type { Db } from './database.ts'
import { clientKeyUsage } from './schema.ts'

export interface UsageRow {
  keyId: string
  periodStart: number
  usage: { requests: number; tokens: number; costUsd: number }
}

/** Per-key quota usage by period, loaded at start and flushed in batches as increments. */
export function createUsageStore(db: Db) {
  return {
    async since(from: number): Promise<UsageRow[]> {
      const rows = await db.select().from(clientKeyUsage).where(gte(clientKeyUsage.periodStart, new Date(from)))
      return rows.map((r) => ({
        keyId: r.keyId,
        periodStart: r.periodStart.getTime(),
        usage: { requests: r.requests, tokens: r.tokens, costUsd: r.costUsd },
      }))
    },
    async save(rows: readonly UsageRow[]): Promise<void> {
      if (rows.length === 0) return
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
      await db.batch([first!, ...rest])
    },
  }
}

export type UsageStore = ReturnType<typeof createUsageStore>
