import { rawQuery, type Database } from './engine.ts'
import { pgUsageEngine } from './pg/usage-engine.ts'
import { LATENCY_BUCKETS_MS } from './schema.ts'
import { sqliteUsageEngine, type RequestRow, type UsageTotals } from './usage-engine.ts'

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
/** 1 for an error row, 0 otherwise: PostgreSQL does not sum booleans. */
const IS_ERROR = 'CASE WHEN status >= 400 THEN 1 ELSE 0 END'

/** The dashboard's and the admin API's reads: aggregates first, raw rows only where needed. */
export function createUsageQueries(database: Database) {
  const { client } = database
  const engine = database.engine === 'postgres' ? pgUsageEngine(database) : sqliteUsageEngine(database)
  return {
    usage: (f: UsageFilter): Promise<UsageTotals[]> => engine.usage(f),

    requests: (f: RequestFilter): Promise<RequestRow[]> => engine.requests(f),

    /** One row of the request log, every column; undefined when there is none. */
    request: (id: number): Promise<RequestRow | undefined> => engine.request(id),

    /** Totals and a series for the last hour (per minute), day (per hour) or 30 days (per day). */
    async overview(window: '1h' | '24h' | '30d', now: number) {
      const span = window === '1h' ? HOUR : window === '24h' ? 24 * HOUR : 30 * 24 * HOUR
      const step = window === '1h' ? 60_000 : window === '24h' ? HOUR : 24 * HOUR
      const from = Math.floor((now - span) / step) * step + step
      const fromHour = Math.floor(from / HOUR) * HOUR
      const hours = await engine.hours(fromHour)
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
        const rows = await rawQuery(
          client,
          `SELECT (ts / 60000) * 60000 AS minute, count(*) AS n, sum(${IS_ERROR}) AS errors, sum(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited,
                  sum(coalesce(prompt_tokens, 0)) AS pt, sum(coalesce(completion_tokens, 0)) AS ct, sum(coalesce(cost_usd, 0)) AS cost,
                  sum(latency_ms) AS lat FROM requests WHERE ts >= ? GROUP BY minute`,
          [from],
        )
        for (const r of rows) {
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
          const rows = await rawQuery(client, 'SELECT ts, latency_ms FROM requests WHERE ts >= ? ORDER BY latency_ms', [from])
          const per = t.map(() => [] as number[])
          for (const r of rows) per[index(Number(r.ts))]?.push(Number(r.latency_ms))
          per.forEach((v, i) => {
            p50[i] = exactQuantile(v, 0.5)
            p95[i] = exactQuantile(v, 0.95)
          })
        } else {
          source = 'usage_hourly'
          const hours = await engine.hours(from)
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
        const found = await rawQuery(
          client,
          `SELECT (ts / ${step}) * ${step} AS at, ${g} AS g, count(*) AS n, sum(${IS_ERROR}) AS e,
                  sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) AS tok, sum(coalesce(cost_usd, 0)) AS cost
                FROM requests WHERE ts >= ? GROUP BY at, g`,
          [from],
        )
        rows = found.map((r) => ({ at: Number(r.at), g: r.g == null ? null : String(r.g), n: Number(r.n), e: Number(r.e), tok: Number(r.tok), cost: Number(r.cost) }))
      } else if (!q.by) {
        source = 'usage_hourly'
        const hours = await engine.hours(Math.floor(from / HOUR) * HOUR)
        rows = hours.map((h) => ({ at: h.hour, g: null, n: h.requests, e: h.errors, tok: h.promptTokens + h.completionTokens, cost: h.costUsd }))
      } else {
        source = 'usage_daily'
        const found = await engine.dailyBy(new Date(from).toISOString().slice(0, 10), q.by)
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
      const counts = await rawQuery(client, `SELECT ${g} AS g, count(*) AS n FROM requests WHERE ts >= ? GROUP BY g ORDER BY n DESC, g`, [from])
      const top = counts.slice(0, q.top).map((r) => (r.g == null ? null : String(r.g)))
      const named = top.filter((x): x is string => x !== null)
      const hasOther = counts.length > q.top
      // Rows of the groups left out are one group; the rank is ceil(q × n), in whole numbers.
      const grp = `CASE WHEN ${g} IS NULL THEN ${top.includes(null) ? "'n'" : "'o'"}${named.length ? ` WHEN ${g} IN (${named.map(() => '?').join(', ')}) THEN 'g' || ${g}` : ''} ELSE 'o' END`
      // Subqueries named, as PostgreSQL before 16 requires.
      const ranked = await rawQuery(
        client,
        `SELECT at, grp, latency_ms FROM (
                SELECT at, grp, latency_ms, row_number() OVER (PARTITION BY at, grp ORDER BY latency_ms) AS rn, count(*) OVER (PARTITION BY at, grp) AS cnt
                FROM (SELECT (ts / ${step}) * ${step} AS at, ${grp} AS grp, latency_ms FROM requests WHERE ts >= ?) AS grouped
              ) AS numbered WHERE rn = ${engine.greatest}(1, (${q.quantile === 'p50' ? 50 : 95} * cnt + 99) / 100)`,
        [...named, from],
      )
      const values = new Map<string, (number | null)[]>()
      for (const r of ranked) {
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
    prune: (before: number, chunk = 5000): Promise<number> => engine.prune(before, chunk),
  }
}

export type UsageQueries = ReturnType<typeof createUsageQueries>
