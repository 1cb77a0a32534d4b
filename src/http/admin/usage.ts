import { sseEvent } from '../../lib/sse.ts'
import { Elysia, t } from 'elysia'
import { GatewayError } from '../../gateway/errors.ts'
import { isPriced } from '../../gateway/access/limits/pricing.ts'
import type { GroupBy, TrendBy, TrendMetric, TrendSeries, TrendWindow } from '../../storage/usage-queries.ts'
import { adminAllowed, adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'

const GROUPS = new Set<GroupBy>(['day', 'key', 'model', 'provider'])
const TREND_WINDOWS = new Set<string>(['1h', '24h', '30d'])
const TREND_METRICS = new Set<string>(['requests', 'errors', 'tokens', 'cost', 'latency'])
const TREND_BY = new Set<string>(['model', 'key', 'provider'])
const DAY = /^\d{4}-\d{2}-\d{2}$/
const MAX_PAGE = 500
/** What one live-tail subscriber may have waiting unread before it is dropped. */
export const LIVE_QUEUE_BYTES = 1024 * 1024
/** A filter value (a key id, a model name) is at most this long. */
const MAX_FILTER = 256
// Query strings are client text: every value a bounded string (Elysia answers 400 otherwise).
const Filter = t.Optional(t.String({ maxLength: MAX_FILTER }))

function bad(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', `${param}: ${message}`, { param })
}

/** A whole number in [min, max] written in decimal, or undefined when absent; a 400 otherwise. */
function intParam(param: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) throw bad(param, `expected a whole number from ${min} to ${max}`)
  return Number(text)
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/

/**
 * A bound of the request log's time filter, as epoch ms: a UTC day (YYYY-MM-DD, its first or its
 * last millisecond) or an ISO time with a zone; undefined when absent, a 400 naming `param` otherwise.
 */
export function timeParam(param: 'from' | 'to', text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  // The day must be a real one (no 2026-02-30), the time must parse.
  const day = text.slice(0, 10)
  const start = Date.parse(day + 'T00:00:00Z')
  const realDay = DAY.test(day) && !Number.isNaN(start) && new Date(start).toISOString().slice(0, 10) === day
  if (realDay && text.length === 10) return param === 'from' ? start : start + 86_400_000 - 1
  const at = realDay && ISO.test(text) ? Date.parse(text) : NaN
  if (Number.isNaN(at)) throw bad(param, 'expected a UTC day (YYYY-MM-DD) or an ISO time with a zone (2026-01-31T12:00:00Z)')
  return at
}

/**
 * Series of a breakdown by key named by the keys' names (the id stays in `key_id`); a name two
 * series share gets its id too. A key no longer stored keeps its id as its name.
 */
async function withKeyNames(deps: Deps, series: TrendSeries[]): Promise<Array<TrendSeries & { key_id?: string | null }>> {
  const names = new Map((await deps.keyStore.list()).map((k) => [k.id, k.name]))
  const named = series.map((s) => (s.other ? s : { ...s, key_id: s.name, name: s.name === null ? null : (names.get(s.name) ?? s.name) }))
  const seen = new Map<string, number>()
  for (const s of named) if (!s.other && s.name !== null) seen.set(s.name, (seen.get(s.name) ?? 0) + 1)
  return named.map((s) => (!s.other && s.name !== null && seen.get(s.name)! > 1 ? { ...s, name: `${s.name} (${(s as { key_id: string }).key_id})` } : s))
}

/** A request-log row without the bodies it may carry. */
function withoutBodies(row: unknown): unknown {
  if (!row || typeof row !== 'object') return row
  const { requestBody: _request, responseBody: _response, ...rest } = row as Record<string, unknown>
  return rest
}

/** Usage, the request log, the overview, the live tail and the Prometheus metrics. */
export const usageRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-usage-routes' })
    .use(adminAuth(deps))
    .get(
      '/admin/api/usage',
      async ({ request, query }) => {
        const groupBy = (query.group_by ?? 'day').split(',').filter(Boolean) as GroupBy[]
        const unknown = groupBy.find((g) => !GROUPS.has(g))
        if (unknown) throw bad('group_by', `expected day, key, model or provider, got "${unknown.slice(0, 32)}"`)
        for (const f of ['from', 'to'] as const) {
          if (query[f] !== undefined && !DAY.test(query[f]!)) throw bad(f, 'expected YYYY-MM-DD')
        }
        const rows = await deps.usage.usage({ from: query.from, to: query.to, keyId: query.key, model: query.model, provider: query.provider, groupBy })
        // A model without a price is shown as unpriced, not as free.
        const prices = deps.config().prices
        const data = groupBy.includes('model') ? rows.map((r: any) => ({ ...r, priced: isPriced(prices, r.model ?? '', r.provider) })) : rows
        return traces.finish(request, Response.json({ group_by: groupBy, data }))
      },
      {
        admin: true,
        query: t.Object({ key: Filter, model: Filter, provider: Filter, from: Filter, to: Filter, group_by: Filter }),
        detail: { summary: 'Usage by day, key, model or provider (UTC days)', tags: ['usage'] },
      },
    )
    .get(
      '/admin/api/requests',
      async ({ request, query }) => {
        // A larger page is cut to the largest; anything that is not a number is refused.
        const limit = Math.min(MAX_PAGE, intParam('limit', query.limit, 1, Number.MAX_SAFE_INTEGER) ?? 50)
        const before = intParam('before', query.before, 1, Number.MAX_SAFE_INTEGER)
        const fromTs = timeParam('from', query.from)
        const toTs = timeParam('to', query.to)
        if (fromTs !== undefined && toTs !== undefined && toTs < fromTs) throw bad('to', 'is before from')
        const status = query.status === undefined || query.status === 'ok' || query.status === 'error' ? query.status : intParam('status', query.status, 100, 599)
        // fields=summary leaves the request and response bodies out (a list that shows no bodies).
        if (query.fields !== undefined && query.fields !== 'summary') throw bad('fields', 'expected summary (every field but the bodies), or leave it out for every field')
        const summary = query.fields === 'summary'
        const found = await deps.usage.requests({ status, keyId: query.key, model: query.model, errorType: query.error_type, fromTs, toTs, limit, before })
        const next = found.length === limit ? found.at(-1)!.id : null
        const prices = deps.config().prices
        const rows = found.map((r: any) => {
          const row = { ...r, priced: r.upstreamModel ? isPriced(prices, r.upstreamModel, r.provider) || isPriced(prices, r.model ?? '') : null }
          if (summary) {
            delete row.requestBody
            delete row.responseBody
          }
          return row
        })
        return traces.finish(request, Response.json({ data: rows, next_before: next }))
      },
      {
        admin: true,
        query: t.Object({ status: Filter, key: Filter, model: Filter, error_type: Filter, from: Filter, to: Filter, limit: Filter, before: Filter, fields: Filter }),
        detail: {
          summary: 'The request log, newest first; page with next_before; from/to: UTC days or ISO times; fields=summary leaves the bodies out',
          tags: ['usage'],
        },
      },
    )
    .get(
      '/admin/api/requests/:id',
      async ({ request, params }) => {
        const id = intParam('id', params.id, 1, Number.MAX_SAFE_INTEGER)!
        const found: any = await deps.usage.request(id)
        if (!found) throw new GatewayError('not_found', `No request ${id} in the log (it may have been pruned).`)
        const prices = deps.config().prices
        const priced = found.upstreamModel ? isPriced(prices, found.upstreamModel, found.provider) || isPriced(prices, found.model ?? '') : null
        return traces.finish(request, Response.json({ ...found, priced }))
      },
      { admin: true, params: t.Object({ id: t.String({ maxLength: 32 }) }), detail: { summary: 'One request of the log, every field stored (bodies when they were kept)', tags: ['usage'] } },
    )
    .get(
      '/admin/api/overview',
      async ({ request, query }) => {
        const window = query.window ?? '24h'
        if (window !== '1h' && window !== '24h' && window !== '30d') {
          throw new GatewayError('invalid_request', 'window: expected 1h, 24h or 30d', { param: 'window' })
        }
        const overview = await deps.usage.overview(window, Date.now())
        return traces.finish(request, Response.json({ ...overview, uptime_s: deps.uptimeSeconds(), providers: deps.gateway.providers() }))
      },
      { admin: true, query: t.Object({ window: Filter }), detail: { summary: 'Totals and a series for the dashboard', tags: ['usage'] } },
    )
    .get(
      '/admin/api/trends',
      async ({ request, query }) => {
        const window = query.window ?? '24h'
        if (!TREND_WINDOWS.has(window)) throw bad('window', 'expected 1h, 24h or 30d')
        const metric = query.metric ?? 'requests'
        if (!TREND_METRICS.has(metric)) throw bad('metric', 'expected requests, errors, tokens, cost or latency')
        const by = query.by === undefined || query.by === '' ? undefined : query.by
        if (by !== undefined && !TREND_BY.has(by)) throw bad('by', 'expected model, key or provider, or leave it out for the total')
        const top = intParam('top', query.top, 1, 20) ?? 5
        const now = Date.now()
        if (query.quantile !== undefined && (metric !== 'latency' || by === undefined)) throw bad('quantile', 'only for latency with a breakdown (by)')
        let trends
        if (metric === 'latency' && by !== undefined) {
          // The aggregates keep latency for all traffic only (one histogram an hour): a breakdown comes from the raw log.
          if (window === '30d') throw bad('by', 'latency per model, key or provider is kept for 1h and 24h only: leave by out for 30d')
          const quantile = query.quantile ?? 'p95'
          if (quantile !== 'p50' && quantile !== 'p95') throw bad('quantile', 'expected p50 or p95')
          trends = await deps.usage.latencyTrend({ window: window as '1h' | '24h', by: by as TrendBy, quantile, top, now })
        } else {
          trends = await deps.usage.trends({ window: window as TrendWindow, metric: metric as TrendMetric, by: by as TrendBy | undefined, top, now })
        }
        if (by === 'key') trends = { ...trends, series: await withKeyNames(deps, trends.series) }
        return traces.finish(request, Response.json(trends))
      },
      {
        admin: true,
        query: t.Object({ window: Filter, metric: Filter, by: Filter, top: Filter, quantile: Filter }),
        detail: {
          summary:
            'A metric over time (1h by minute, 24h by hour, 30d by day), optionally per model, key (named, with key_id) or provider: the top groups and "other"; latency per group (quantile=p50|p95) for 1h and 24h',
          tags: ['usage'],
        },
      },
    )
    .get(
      '/admin/api/requests/live',
      ({ request, query }) => {
        if (query.fields !== undefined && query.fields !== 'summary') throw bad('fields', 'expected summary')
        // `fields=summary`: the rows without their bodies, for a viewer that shows none.
        const summary = query.fields === 'summary'
        deps.keepOpen(request)
        let unsubscribe = () => {}
        const encoder = new TextEncoder()
        const body = new ReadableStream<Uint8Array>(
          {
            start(controller) {
              // A subscriber that stops reading would have every row queued for it: once its
              // unread rows pass the high-water mark it is dropped and its queue discarded.
              const send = (text: string) => {
                if ((controller.desiredSize ?? 0) <= 0) {
                  unsubscribe()
                  controller.error(new Error('live tail subscriber too slow'))
                  return
                }
                controller.enqueue(encoder.encode(text))
              }
              controller.enqueue(encoder.encode(': live\n\n'))
              const ping = setInterval(() => send(': ping\n\n'), 15_000)
              const off = deps.live.subscribe((row) => send(sseEvent(JSON.stringify(summary ? withoutBodies(row) : row))))
              unsubscribe = () => {
                clearInterval(ping)
                off()
              }
              request.signal.addEventListener('abort', () => unsubscribe(), { once: true })
            },
            cancel: () => unsubscribe(),
          },
          { highWaterMark: LIVE_QUEUE_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
        )
        return traces.finish(request, new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } }))
      },
      { admin: true, query: t.Object({ fields: Filter }), detail: { summary: 'Server-sent events: each finished request as it is logged (fields=summary: without bodies)', tags: ['usage'] } },
    )
    .get('/metrics', ({ request }) => {
      if (!deps.config().metrics.public && !adminAllowed(deps, request)) {
        throw new GatewayError('invalid_api_key', '/metrics needs the admin token (or metrics.public: true).')
      }
      return traces.finish(request, new Response(deps.metricsText(), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } }))
    })
