import { eq, gte, sql } from 'drizzle-orm'
import { sumInto } from '../../gateway/access/limits/store.ts'
import type { PgDb } from '../engine.ts'
import { USAGE_CUT_KEY, usageRow, type UsageRow, type UsageStoreQueries } from '../usage-store.ts'
import { statementChunks } from './bind-limit.ts'
import { clientKeyUsage, settings } from './schema.ts'

const COLUMNS = 5

/** Rows in primary-key order, one per key and period: instances saving at once lock them alike. */
function sortedUnique(rows: readonly UsageRow[]): UsageRow[] {
  const merged = new Map<string, UsageRow>()
  for (const r of rows) {
    const k = `${r.keyId}\u0000${r.periodStart}`
    const m = merged.get(k)
    if (!m) merged.set(k, { keyId: r.keyId, periodStart: r.periodStart, usage: { ...r.usage } })
    else sumInto(m.usage, r.usage)
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
      return db.transaction(async (tx) => {
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
        // FOR SHARE waits for a seed that bumped the cut to commit (and then reads its value), and a
        // seed's bump waits for this save: each save is wholly before or after a seed's read.
        const [cut] = await tx.select({ value: settings.value }).from(settings).where(eq(settings.key, USAGE_CUT_KEY)).for('share')
        return Number(cut?.value ?? 0)
      })
    },
    async seedCut(from) {
      return db.transaction(async (tx) => {
        const [bumped] = await tx
          .update(settings)
          .set({ value: sql`(${settings.value}::bigint + 1)::text`, updatedAt: new Date() })
          .where(eq(settings.key, USAGE_CUT_KEY))
          .returning({ value: settings.value })
        if (!bumped) throw new Error('the usage cut is missing from settings')
        // Read committed: this statement's snapshot comes after every save that held the cut row.
        const rows = await tx.select().from(clientKeyUsage).where(gte(clientKeyUsage.periodStart, new Date(from)))
        return { cut: Number(bumped.value), rows: rows.map(usageRow) }
      })
    },
  }
}
