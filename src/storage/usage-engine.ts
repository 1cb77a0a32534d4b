import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import { rawExecute, type SqliteDatabase, type SqliteDb } from './engine.ts'
import { requestLog, usageDaily, usageHourly } from './schema.ts'
import type { GroupBy, RequestFilter, TrendBy, UsageFilter } from './usage-queries.ts'

export type RequestRow = typeof requestLog.$inferSelect
export type HourRow = typeof usageHourly.$inferSelect
/** Usage sums over a group of usage_daily rows, with the group's own columns (day, key, ...). */
export type UsageTotals = { [g in GroupBy]?: string } & Record<'requests' | 'errors' | 'prompt_tokens' | 'completion_tokens' | 'cached_tokens' | 'reasoning_tokens' | 'cost_usd', number>
/** Sums per UTC day and group, for the trends of 30 days. */
export type DailyGroupRow = { day: string; g: string; n: number; e: number; tok: number; cost: number }

/**
 * What the usage queries need from their engine: the reads built with the query builder, and the
 * pruning. The hand-written aggregates below are plain SQL that both engines run.
 */
export interface UsageEngine {
  usage(f: UsageFilter): Promise<UsageTotals[]>
  requests(f: RequestFilter): Promise<RequestRow[]>
  request(id: number): Promise<RequestRow | undefined>
  /** usage_hourly rows from `from` (epoch ms), in hour order. */
  hours(from: number): Promise<HourRow[]>
  dailyBy(fromDay: string, by: TrendBy): Promise<DailyGroupRow[]>
  /** Deletes raw rows older than `before`, in chunks; returns rows removed. */
  prune(before: number, chunk: number): Promise<number>
  /** The two-argument larger-of function: `max` in SQLite, `greatest` in PostgreSQL. */
  greatest: string
}

/** The filters of the usage list, on either engine's usage_daily. */
export function usageWhere(f: UsageFilter, t: { day: Parameters<typeof eq>[0]; keyId: Parameters<typeof eq>[0]; model: Parameters<typeof eq>[0]; provider: Parameters<typeof eq>[0] }): SQL | undefined {
  const where: SQL[] = []
  if (f.from) where.push(gte(t.day, f.from))
  if (f.to) where.push(lte(t.day, f.to))
  if (f.keyId) where.push(eq(t.keyId, f.keyId))
  if (f.model) where.push(eq(t.model, f.model))
  if (f.provider) where.push(eq(t.provider, f.provider))
  return where.length ? and(...where) : undefined
}

type Col = Parameters<typeof eq>[0]
/** The filters of the request list, on either engine's request log. */
export function requestWhere(f: RequestFilter, t: { status: Col; keyId: Col; model: Col; errorType: Col; ts: Col; id: Col }): SQL | undefined {
  const where: SQL[] = []
  if (f.status === 'ok') where.push(lt(t.status, 400))
  else if (f.status === 'error') where.push(gte(t.status, 400))
  else if (typeof f.status === 'number') where.push(eq(t.status, f.status))
  if (f.keyId) where.push(eq(t.keyId, f.keyId))
  if (f.model) where.push(eq(t.model, f.model))
  if (f.errorType) where.push(eq(t.errorType, f.errorType))
  if (f.fromTs !== undefined) where.push(gte(t.ts, f.fromTs))
  if (f.toTs !== undefined) where.push(lte(t.ts, f.toTs))
  if (f.before !== undefined) where.push(lt(t.id, f.before))
  return where.length ? and(...where) : undefined
}

export const DAILY_GROUP = { model: usageDaily.model, key: usageDaily.keyId, provider: usageDaily.provider } as const

export function sqliteUsageEngine(database: SqliteDatabase): UsageEngine {
  const db: SqliteDb = database.db
  return {
    greatest: 'max',
    async usage(f) {
      const columns = { day: usageDaily.day, key: usageDaily.keyId, model: usageDaily.model, provider: usageDaily.provider }
      const groups = f.groupBy.map((g) => columns[g])
      const query = db
        .select({
          ...Object.fromEntries(f.groupBy.map((g) => [g, columns[g]])),
          requests: sql<number>`sum(${usageDaily.requests})`,
          errors: sql<number>`sum(${usageDaily.errors})`,
          prompt_tokens: sql<number>`sum(${usageDaily.promptTokens})`,
          completion_tokens: sql<number>`sum(${usageDaily.completionTokens})`,
          cached_tokens: sql<number>`sum(${usageDaily.cachedTokens})`,
          reasoning_tokens: sql<number>`sum(${usageDaily.reasoningTokens})`,
          cost_usd: sql<number>`sum(${usageDaily.costUsd})`,
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
          n: sql<number>`sum(${usageDaily.requests})`,
          e: sql<number>`sum(${usageDaily.errors})`,
          tok: sql<number>`sum(${usageDaily.promptTokens} + ${usageDaily.completionTokens})`,
          cost: sql<number>`sum(${usageDaily.costUsd})`,
        })
        .from(usageDaily)
        .where(gte(usageDaily.day, fromDay))
        .groupBy(usageDaily.day, col)
    },
    async prune(before, chunk) {
      const { client } = database
      let removed = 0
      for (;;) {
        const n = await rawExecute(client, 'DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE ts < ? ORDER BY id LIMIT ?)', [before, chunk])
        removed += n
        if (n < chunk) break
      }
      // execute() steps a statement once, which frees one page; executeMultiple runs it through.
      if (removed > 0) await client.executeMultiple('PRAGMA incremental_vacuum;')
      return removed
    },
  }
}
