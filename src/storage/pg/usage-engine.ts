import { desc, eq, gte, sql } from 'drizzle-orm'
import { rawExecute, type PostgresDatabase } from '../engine.ts'
import { requestWhere, usageWhere, type UsageEngine, type UsageTotals } from '../usage-engine.ts'
import { requestLog, usageDaily, usageHourly } from './schema.ts'

const DAY = 86_400_000
const DAILY_GROUP = { model: usageDaily.model, key: usageDaily.keyId, provider: usageDaily.provider } as const
/** A sum of bigints is `numeric`, which Bun's client hands over as text. */
const total = (column: Parameters<typeof sql>[1]) => sql<number>`sum(${column})`.mapWith(Number)

export function pgUsageEngine(database: PostgresDatabase): UsageEngine {
  const { db, client } = database
  return {
    greatest: 'greatest',
    async usage(f) {
      const columns = { day: usageDaily.day, key: usageDaily.keyId, model: usageDaily.model, provider: usageDaily.provider }
      const groups = f.groupBy.map((g) => columns[g])
      const query = db
        .select({
          ...Object.fromEntries(f.groupBy.map((g) => [g, columns[g]])),
          requests: total(usageDaily.requests),
          errors: total(usageDaily.errors),
          prompt_tokens: total(usageDaily.promptTokens),
          completion_tokens: total(usageDaily.completionTokens),
          cached_tokens: total(usageDaily.cachedTokens),
          reasoning_tokens: total(usageDaily.reasoningTokens),
          cost_usd: total(usageDaily.costUsd),
        })
        .from(usageDaily)
        .where(usageWhere(f, usageDaily))
      return (await (groups.length ? query.groupBy(...groups).orderBy(...groups) : query)) as UsageTotals[]
    },
    async requests(f) {
      return db.select().from(requestLog).where(requestWhere(f, requestLog)).orderBy(desc(requestLog.id)).limit(f.limit)
    },
    async request(id) {
      const [found] = await db.select().from(requestLog).where(eq(requestLog.id, id)).limit(1)
      return found
    },
    hours: async (from) => db.select().from(usageHourly).where(gte(usageHourly.hour, from)).orderBy(usageHourly.hour),
    async dailyBy(fromDay, by) {
      const col = DAILY_GROUP[by]
      return db
        .select({
          day: usageDaily.day,
          g: col,
          n: total(usageDaily.requests),
          e: total(usageDaily.errors),
          tok: total(sql`${usageDaily.promptTokens} + ${usageDaily.completionTokens}`),
          cost: total(usageDaily.costUsd),
        })
        .from(usageDaily)
        .where(gte(usageDaily.day, fromDay))
        .groupBy(usageDaily.day, col)
    },
    /**
     * By whole UTC days: the cut is the start of the day `before` falls in, so the hourly runs
     * delete a day's rows once, after midnight, and are index probes that find nothing otherwise.
     * Chunks go oldest first along the time index; autovacuum reclaims the space.
     */
    async prune(before, chunk) {
      const cut = Math.floor(before / DAY) * DAY
      let removed = 0
      for (;;) {
        const n = await rawExecute(client, 'DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE ts < ? ORDER BY ts LIMIT ?)', [cut, chunk])
        removed += n
        if (n < chunk) break
      }
      return removed
    },
  }
}
