import { gte, sql } from 'drizzle-orm'
import type { PgDb } from '../engine.ts'
import { usageRow, type UsageRow, type UsageStoreQueries } from '../usage-store.ts'
import { statementChunks } from './bind-limit.ts'
import { clientKeyUsage } from './schema.ts'

const COLUMNS = 5

/** Rows in primary-key order, one per key and period: instances saving at once lock them alike. */
function sortedUnique(rows: readonly UsageRow[]): UsageRow[] {
  const merged = new Map<string, UsageRow>()
  for (const r of rows) {
    const k = `${r.keyId}\u0000${r.periodStart}`
    const m = merged.get(k)
    if (!m) merged.set(k, { keyId: r.keyId, periodStart: r.periodStart, usage: { ...r.usage } })
    else {
      m.usage.requests += r.usage.requests
      m.usage.tokens += r.usage.tokens
      m.usage.costUsd += r.usage.costUsd
    }
  }
  return [...merged.values()].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : a.periodStart - b.periodStart))
}

export function pgUsageQueries(db: PgDb): UsageStoreQueries {
  return {
    async since(from) {
      return (await db.select().from(clientKeyUsage).where(gte(clientKeyUsage.periodStart, new Date(from)))).map(usageRow)
    },
    async add(rows) {
      // Multi-row upserts, which cannot touch a row twice: hence one row per key and period.
      const values = sortedUnique(rows).map((r) => ({ keyId: r.keyId, periodStart: new Date(r.periodStart), ...r.usage }))
      await db.transaction(async (tx) => {
        for (const chunk of statementChunks(values, COLUMNS)) {
          await tx
            .insert(clientKeyUsage)
            .values(chunk)
            .onConflictDoUpdate({
              target: [clientKeyUsage.keyId, clientKeyUsage.periodStart],
              // Increments: what this process used since its last save is added to what is there.
              set: {
                requests: sql`greatest(0, ${clientKeyUsage.requests} + excluded.requests)`,
                tokens: sql`greatest(0, ${clientKeyUsage.tokens} + excluded.tokens)`,
                costUsd: sql`greatest(0, ${clientKeyUsage.costUsd} + excluded.cost_usd)`,
              },
            })
        }
      })
    },
  }
}
