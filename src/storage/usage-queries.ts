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

export type TrendWindow = '1h' | '24h' | '30d'
export type TrendMetric = 'requests' | 'errors' | 'tokens' | 'cost' | 'latency'
export type TrendBy = 'model' | 'key' | 'provider'

export interface TrendQuery {
  window: TrendWindow
  metric: TrendMetric
  /** A breakdown: the top `top` groups by their total, the rest summed as "other". */
  by?: TrendBy
  top: number
  now: number
}

export interface LatencyTrendQuery {
  window: '1h' | '24h'
  by: TrendBy
  quantile: 'p50' | 'p95'
  top: number
  now: number
}

/** One line of a trend: a group (null: rows without one), "other", or p50 / p95 for latency. */
export interface TrendSeries {
  name: string | null
  other?: true
  values: (number | null)[]
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

/** Nearest-rank quantile of raw values (ms). */
function exactQuantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
}

const SPAN = { '1h': HOUR, '24h': 24 * HOUR, '30d': 30 * 24 * HOUR } as const
const STEP = { '1h': 60_000, '24h': HOUR, '30d': 24 * HOUR } as const
const RAW_GROUP = { model: 'model', key: 'key_id', provider: 'provider' } as const
const DAILY_GROUP = { model: usageDaily.model, key: usageDaily.keyId, provider: usageDaily.provider } as const

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

    /**
     * A metric over time for the trends charts: the last hour by minute (the raw log), the last day
     * by hour and 30 days by day (usage_hourly; per group: the raw log for hours, usage_daily for
     * days). Latency is p50 and p95: exact from raw rows for minutes, histogram bucket upper bounds
     * (as on the overview) for hours and days.
     */
    async trends(q: TrendQuery) {
      const step = STEP[q.window]
      const from = Math.floor((q.now - SPAN[q.window]) / step) * step + step
      const t: number[] = []
      for (let at = from; at <= q.now; at += step) t.push(at)
      const index = (at: number) => Math.floor((at - from) / step)
      const zeros = () => t.map(() => 0)
      const value = (r: { n: number; e: number; tok: number; cost: number }) =>
        q.metric === 'requests' ? r.n : q.metric === 'errors' ? r.e : q.metric === 'tokens' ? r.tok : r.cost
      let series: TrendSeries[]
      let source: 'request_log' | 'usage_hourly' | 'usage_daily'

      if (q.metric === 'latency') {
        const p50: (number | null)[] = t.map(() => null)
        const p95: (number | null)[] = t.map(() => null)
        if (q.window === '1h') {
          source = 'request_log'
          const rs = await client.execute({ sql: 'SELECT ts, latency_ms FROM requests WHERE ts >= ? ORDER BY latency_ms', args: [from] })
          const per = t.map(() => [] as number[])
          for (const r of rs.rows) per[index(Number(r.ts))]?.push(Number(r.latency_ms))
          per.forEach((v, i) => {
            p50[i] = exactQuantile(v, 0.5)
            p95[i] = exactQuantile(v, 0.95)
          })
        } else {
          source = 'usage_hourly'
          const hours = await db.select().from(usageHourly).where(gte(usageHourly.hour, from)).orderBy(usageHourly.hour)
          const hists = t.map(() => Array(BUCKETS).fill(0) as number[])
          for (const h of hours) {
            const hist = hists[index(h.hour)]
            if (!hist) continue
            for (let i = 0; i < BUCKETS; i++) hist[i]! += Number((h as Record<string, unknown>)[`l${i}`] ?? 0)
          }
          hists.forEach((hist, i) => {
            p50[i] = quantile(hist, 0.5)
            p95[i] = quantile(hist, 0.95)
          })
        }
        series = [
          { name: 'p50', values: p50 },
          { name: 'p95', values: p95 },
        ]
        return { window: q.window, metric: q.metric, by: null, step_ms: step, source, t, series }
      }

      // Rows of (bucket start, group, counts); one group (null) without a breakdown.
      let rows: { at: number; g: string | null; n: number; e: number; tok: number; cost: number }[]
      if (q.window === '1h' || (q.window === '24h' && q.by)) {
        source = 'request_log'
        const g = q.by ? RAW_GROUP[q.by] : 'NULL'
        const rs = await client.execute({
          sql: `SELECT (ts / ${step}) * ${step} AS at, ${g} AS g, count(*) AS n, sum(status >= 400) AS e,
                  sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) AS tok, sum(coalesce(cost_usd, 0)) AS cost
                FROM requests WHERE ts >= ? GROUP BY at, g`,
          args: [from],
        })
        rows = rs.rows.map((r) => ({ at: Number(r.at), g: r.g == null ? null : String(r.g), n: Number(r.n), e: Number(r.e), tok: Number(r.tok), cost: Number(r.cost) }))
      } else if (!q.by) {
        source = 'usage_hourly'
        const hours = await db.select().from(usageHourly).where(gte(usageHourly.hour, Math.floor(from / HOUR) * HOUR))
        rows = hours.map((h) => ({ at: h.hour, g: null, n: h.requests, e: h.errors, tok: h.promptTokens + h.completionTokens, cost: h.costUsd }))
      } else {
        source = 'usage_daily'
        const col = DAILY_GROUP[q.by]
        const found = await db
          .select({
            day: usageDaily.day,
            g: col,
            n: sql<number>`sum(${usageDaily.requests})`,
            e: sql<number>`sum(${usageDaily.errors})`,
            tok: sql<number>`sum(${usageDaily.promptTokens} + ${usageDaily.completionTokens})`,
            cost: sql<number>`sum(${usageDaily.costUsd})`,
          })
          .from(usageDaily)
          .where(gte(usageDaily.day, new Date(from).toISOString().slice(0, 10)))
          .groupBy(usageDaily.day, col)
        rows = found.map((r) => ({ at: Date.parse(r.day + 'T00:00:00Z'), g: r.g === '' ? null : r.g, n: Number(r.n), e: Number(r.e), tok: Number(r.tok), cost: Number(r.cost) }))
      }

      const groups = new Map<string | null, number[]>()
      for (const r of rows) {
        const i = index(Math.floor(r.at / step) * step)
        if (i < 0 || i >= t.length) continue
        let values = groups.get(r.g)
        if (!values) groups.set(r.g, (values = zeros()))
        values[i]! += value(r)
      }
      if (!q.by) {
        series = [{ name: null, values: groups.get(null) ?? zeros() }]
      } else {
        const sum = (v: number[]) => v.reduce((a, b) => a + b, 0)
        const ranked = [...groups.entries()].sort((a, b) => sum(b[1]) - sum(a[1]) || String(a[0]).localeCompare(String(b[0])))
        series = ranked.slice(0, q.top).map(([name, values]) => ({ name, values }))
        const rest = ranked.slice(q.top)
        if (rest.length) {
          const values = zeros()
          for (const [, v] of rest) v.forEach((x, i) => (values[i]! += x))
          series.push({ name: 'other', other: true, values })
        }
      }
      return { window: q.window, metric: q.metric, by: q.by ?? null, step_ms: step, source, t, series }
    },

    /**
     * Latency per model, key or provider over the last hour (by minute) or day (by hour), from the
     * raw log: one quantile (nearest rank, exact) per group, the top `top` groups by request count
     * and the rest together as "other". The aggregates keep one histogram an hour for all traffic,
     * so there is no breakdown for 30 days.
     */
    async latencyTrend(q: LatencyTrendQuery) {
      const step = STEP[q.window]
      const from = Math.floor((q.now - SPAN[q.window]) / step) * step + step
      const t: number[] = []
      for (let at = from; at <= q.now; at += step) t.push(at)
      const g = RAW_GROUP[q.by]
      const counts = await client.execute({ sql: `SELECT ${g} AS g, count(*) AS n FROM requests WHERE ts >= ? GROUP BY g ORDER BY n DESC, g`, args: [from] })
      const top = counts.rows.slice(0, q.top).map((r) => (r.g == null ? null : String(r.g)))
      const named = top.filter((x): x is string => x !== null)
      const hasOther = counts.rows.length > q.top
      // Rows of the groups left out are one group; the rank is ceil(q × n), in whole numbers.
      const grp = `CASE WHEN ${g} IS NULL THEN ${top.includes(null) ? "'n'" : "'o'"}${named.length ? ` WHEN ${g} IN (${named.map(() => '?').join(', ')}) THEN 'g' || ${g}` : ''} ELSE 'o' END`
      const rs = await client.execute({
        sql: `SELECT at, grp, latency_ms FROM (
                SELECT at, grp, latency_ms, row_number() OVER (PARTITION BY at, grp ORDER BY latency_ms) AS rn, count(*) OVER (PARTITION BY at, grp) AS cnt
                FROM (SELECT (ts / ${step}) * ${step} AS at, ${grp} AS grp, latency_ms FROM requests WHERE ts >= ?)
              ) WHERE rn = max(1, (${q.quantile === 'p50' ? 50 : 95} * cnt + 99) / 100)`,
        args: [...named, from],
      })
      const values = new Map<string, (number | null)[]>()
      for (const r of rs.rows) {
        const i = Math.floor((Number(r.at) - from) / step)
        if (i < 0 || i >= t.length) continue
        const key = String(r.grp)
        let v = values.get(key)
        if (!v) values.set(key, (v = t.map(() => null)))
        v[i] = Number(r.latency_ms)
      }
      const empty = () => t.map(() => null)
      const series: TrendSeries[] = top.map((name) => ({ name, values: values.get(name === null ? 'n' : 'g' + name) ?? empty() }))
      if (hasOther) series.push({ name: 'other', other: true, values: values.get('o') ?? empty() })
      return { window: q.window, metric: 'latency' as const, by: q.by, quantile: q.quantile, step_ms: step, source: 'request_log' as const, t, series }
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
