import { Elysia, t } from 'elysia'
import { GatewayError } from '../../gateway/errors.ts'
import type { GroupBy } from '../../storage/usage-queries.ts'
import { adminAllowed, adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'

const GROUPS = new Set<GroupBy>(['day', 'key', 'model', 'provider'])
const DAY = /^\d{4}-\d{2}-\d{2}$/

/** Usage, the request log, the overview, the live tail and the Prometheus metrics. */
export const usageRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-usage-routes' })
    .use(adminAuth(deps))
    .get(
      '/admin/api/usage',
      async ({ request, query }) => {
        const groupBy = (query.group_by ?? 'day').split(',').filter(Boolean) as GroupBy[]
        const bad = groupBy.find((g) => !GROUPS.has(g))
        if (bad) throw new GatewayError('invalid_request', `group_by: expected day, key, model or provider, got "${bad}"`, { param: 'group_by' })
        for (const f of ['from', 'to'] as const) {
          if (query[f] !== undefined && !DAY.test(query[f]!)) throw new GatewayError('invalid_request', `${f}: expected YYYY-MM-DD`, { param: f })
        }
        const data = await deps.usage.usage({ from: query.from, to: query.to, keyId: query.key, model: query.model, provider: query.provider, groupBy })
        return traces.finish(request, Response.json({ group_by: groupBy, data }))
      },
      {
        admin: true,
        query: t.Object({
          key: t.Optional(t.String()),
          model: t.Optional(t.String()),
          provider: t.Optional(t.String()),
          from: t.Optional(t.String()),
          to: t.Optional(t.String()),
          group_by: t.Optional(t.String()),
        }),
        detail: { summary: 'Usage by day, key, model or provider (UTC days)', tags: ['usage'] },
      },
    )
    .get(
      '/admin/api/requests',
      async ({ request, query }) => {
        const limit = Math.min(500, Math.max(1, Number(query.limit ?? 50)))
        const status = query.status === undefined ? undefined : query.status === 'ok' || query.status === 'error' ? query.status : Number(query.status)
        if (typeof status === 'number' && !Number.isInteger(status)) {
          throw new GatewayError('invalid_request', 'status: expected ok, error or an HTTP status', { param: 'status' })
        }
        const rows = await deps.usage.requests({ status, keyId: query.key, model: query.model, limit, before: query.before ? Number(query.before) : undefined })
        const next = rows.length === limit ? rows.at(-1)!.id : null
        return traces.finish(request, Response.json({ data: rows, next_before: next }))
      },
      {
        admin: true,
        query: t.Object({
          status: t.Optional(t.String()),
          key: t.Optional(t.String()),
          model: t.Optional(t.String()),
          limit: t.Optional(t.String()),
          before: t.Optional(t.String()),
        }),
        detail: { summary: 'The request log, newest first; page with next_before', tags: ['usage'] },
      },
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
      { admin: true, query: t.Object({ window: t.Optional(t.String()) }), detail: { summary: 'Totals and a series for the dashboard', tags: ['usage'] } },
    )
    .get(
      '/admin/api/requests/live',
      ({ request }) => {
        deps.keepOpen(request)
        let unsubscribe = () => {}
        const encoder = new TextEncoder()
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode(': live\n\n'))
            const ping = setInterval(() => controller.enqueue(encoder.encode(': ping\n\n')), 15_000)
            const off = deps.live.subscribe((row) => controller.enqueue(encoder.encode(`data: ${JSON.stringify(row)}\n\n`)))
            unsubscribe = () => {
              clearInterval(ping)
              off()
            }
            request.signal.addEventListener('abort', () => unsubscribe(), { once: true })
          },
          cancel: () => unsubscribe(),
        })
        return traces.finish(request, new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } }))
      },
      { admin: true, detail: { summary: 'Server-sent events: each finished request as it is logged', tags: ['usage'] } },
    )
    .get('/metrics', ({ request }) => {
      if (!deps.config().metrics.public && !adminAllowed(deps, request)) {
        throw new GatewayError('invalid_api_key', '/metrics needs the admin token (or metrics.public: true).')
      }
      return traces.finish(request, new Response(deps.metricsText(), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } }))
    })
