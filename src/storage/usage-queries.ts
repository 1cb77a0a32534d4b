import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Database } from './database.ts'
import { LATENCY_BUCKETS_MS, requestLog, usageDaily, usageHourly } from './schema.ts'

export type GroupBy = 'day' | 'key' | 'model' | 'provider'

export interface UsageFilter {
  from?: string
  to?: string
  keyId?: string
  model?: string
  provider?: string
  groupBy: GroupBy[]
}

export interface RequestFilter {
  status?: 'ok' | 'error' | number
  keyId?: string
  model?: string
  limit: number
  /** Cursor: rows with a smaller id (older). */
  before?: number
  errorType?: string
  /** Epoch ms, inclusive at both ends. */
  fromTs?: number
  toTs?: number
}

const HOUR = 3_600_000
const BUCKETS = LATENCY_BUCKETS_MS.length + 1

/** Quantile from histogram counts, reported as the bucket's upper bound (ms). */
function quantile(counts: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0)
  if (total === 0) return null
  let seen = 0
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!
    if (seen >= q * total) return LATENCY_BUCKETS_MS[i] ?? LATENCY_BUCKETS_MS.at(-1)! * 2
  }
  return null
}

/** The dashboard's and the admin API's reads: aggregates first, raw rows only where needed. */
export function createUsageQueries(database: Database) {
  const { db, client } = database
  return {
    async usage(f: UsageFilter) {
      const where: SQL[] = []
      if (f.from) where.push(gte(usageDaily.day, f.from))
      if (f.to) where.push(lte(usageDaily.day, f.to))
      if (f.keyId) where.push(eq(usageDaily.keyId, f.keyId))
      if (f.model) where.push(eq(usageDaily.model, f.model))
      if (f.provider) where.push(eq(usageDaily.provider, f.provider))
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
        .where(where.length ? and(...where) : undefined)
      return groups.length ? query.groupBy(...groups).orderBy(...groups) : query
    },

    async requests(f: RequestFilter) {
      const where: SQL[] = []
      if (f.status === 'ok') where.push(lt(requestLog.status, 400))
      else if (f.status === 'error') where.push(gte(requestLog.status, 400))
      else if (typeof f.status === 'number') where.push(eq(requestLog.status, f.status))
      if (f.keyId) where.push(eq(requestLog.keyId, f.keyId))
      if (f.model) where.push(eq(requestLog.model, f.model))
      if (f.errorType) where.push(eq(requestLog.errorType, f.errorType))
      if (f.fromTs !== undefined) where.push(gte(requestLog.ts, f.fromTs))
      if (f.toTs !== undefined) where.push(lte(requestLog.ts, f.toTs))
      if (f.before !== undefined) where.push(lt(requestLog.id, f.before))
      return db
        .select()
        .from(requestLog)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(requestLog.id))
        .limit(f.limit)
    },

    /** One row of the request log, every column; undefined when there is none. */
    async request(id: number) {
      const [found] = await db.select().from(requestLog).where(eq(requestLog.id, id)).limit(1)
      return found
    },

    /** Totals and a series for the last hour (per minute), day (per hour) or 30 days (per day). */
    async overview(window: '1h' | '24h' | '30d', now: number) {
      const span = window === '1h' ? HOUR : window === '24h' ? 24 * HOUR : 30 * 24 * HOUR
      const step = window === '1h' ? 60_000 : window === '24h' ? HOUR : 24 * HOUR
      const from = Math.floor((now - span) / step) * step + step
      const fromHour = Math.floor(from / HOUR) * HOUR
      const hours = await db.select().from(usageHourly).where(gte(usageHourly.hour, fromHour)).orderBy(usageHourly.hour)
      const hist: number[] = Array(BUCKETS).fill(0)
      const addHist = (h: Record<string, unknown>) => {
        for (let i = 0; i < BUCKETS; i++) hist[i]! += Number(h[`l${i}`] ?? 0)
      }
      const totals = { requests: 0, errors: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0, latency_sum_ms: 0 }
      const points = new Map<number, { requests: number; errors: number; tokens: number; cost_usd: number }>()
      const point = (at: number) => {
        const key = Math.floor(at / step) * step
        let p = points.get(key)
        if (!p) points.set(key, (p = { requests: 0, errors: 0, tokens: 0, cost_usd: 0 }))
        return p
      }
      if (window === '1h') {
        // Minutes come from the raw log (an hour of rows, through the ts index).
        const rs = await client.execute({
          sql: `SELECT (ts / 60000) * 60000 AS minute, count(*) AS n, sum(status >= 400) AS errors, sum(status = 429) AS limited,
                  sum(coalesce(prompt_tokens, 0)) AS pt, sum(coalesce(completion_tokens, 0)) AS ct, sum(coalesce(cost_usd, 0)) AS cost,
                  sum(latency_ms) AS lat FROM requests WHERE ts >= ? GROUP BY minute`,
          args: [from],
        })
        for (const r of rs.rows) {
          const p = point(Number(r.minute))
          p.requests += Number(r.n)
          p.errors += Number(r.errors)
          p.tokens += Number(r.pt) + Number(r.ct)
          p.cost_usd += Number(r.cost)
          totals.requests += Number(r.n)
          totals.errors += Number(r.errors)
          totals.rate_limited += Number(r.limited)
          totals.prompt_tokens += Number(r.pt)
          totals.completion_tokens += Number(r.ct)
          totals.cost_usd += Number(r.cost)
          totals.latency_sum_ms += Number(r.lat)
        }
        for (const h of hours) addHist(h)
      } else {
        for (const h of hours) {
          const p = point(h.hour)
          p.requests += h.requests
          p.errors += h.errors
          p.tokens += h.promptTokens + h.completionTokens
          p.cost_usd += h.costUsd
          totals.requests += h.requests
          totals.errors += h.errors
          totals.rate_limited += h.rateLimited
          totals.prompt_tokens += h.promptTokens
          totals.completion_tokens += h.completionTokens
          totals.cost_usd += h.costUsd
          totals.latency_sum_ms += h.latencySumMs
          addHist(h)
        }
      }
      const series = []
      for (let at = from; at <= now; at += step) series.push({ at: new Date(at).toISOString(), ...(points.get(at) ?? { requests: 0, errors: 0, tokens: 0, cost_usd: 0 }) })
      return {
        window,
        ...totals,
        success_rate: totals.requests ? (totals.requests - totals.errors) / totals.requests : null,
        latency_avg_ms: totals.requests ? Math.round(totals.latency_sum_ms / totals.requests) : null,
        // From the hourly histogram (the hour buckets overlapping the window): bucket upper bounds.
        latency_p50_ms: quantile(hist, 0.5),
        latency_p95_ms: quantile(hist, 0.95),
        series,
      }
    },

    /** Deletes raw rows older than `before`, in chunks; aggregates stay. Returns rows removed. */
    async prune(before: number, chunk = 5000): Promise<number> {
      let removed = 0
      for (;;) {
        const rs = await client.execute({
          sql: 'DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE ts < ? ORDER BY id LIMIT ?)',
          args: [before, chunk],
        })
        removed += rs.rowsAffected
        if (rs.rowsAffected < chunk) break
      }
      // execute() steps a statement once, which frees one page; executeMultiple runs it through.
      if (removed > 0) await client.executeMultiple('PRAGMA incremental_vacuum;')
      return removed
    },
  }
}

export type UsageQueries = ReturnType<typeof createUsageQueries>
