import type { RequestRecord } from './gateway/record.ts'
import { Counter, Gauge, Histogram, Registry, SeriesLookup } from './observability/metrics.ts'
import { VERSION } from './version.ts'

const ROUTES = new Set(['/v1/chat/completions', '/v1/embeddings', '/v1/responses', '/v1/messages', '/v1/messages/count_tokens', '/v1/models', '/health'])
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

export interface MetricSources {
  keyStates(): Array<{ provider: string; usable: number; cooling: number; disabled: number }>
  inflight(): { requests: number; streams: number }
  /** Request-log rows queued, dropped because the queue was full, and lost at shutdown because the database failed. */
  queue(): { depth: number; dropped: number; lost?: number }
  /** With Redis: whether it answers, and the client-key admissions counted in memory or refused while it did not. */
  redis?(): { up: boolean; fallback: number; refused: number }
  /** This instance among several (host:pid, and its worker index if it is one): the `sluice_instance_info` labels. */
  instance?: { id: string; worker?: number }
}

/** Every metric sluice exports on /metrics. Labels never carry keys, users or prompts. */
export function createGatewayMetrics(sources: MetricSources) {
  const registry = new Registry()
  const startedAt = Date.now() / 1000
  registry.add(new Gauge('sluice_build_info', 'Version of the running sluice.', (g) => g.set({ version: VERSION }, 1)))
  const instance = sources.instance
  if (instance) {
    const labels = { instance: instance.id, version: VERSION, ...(instance.worker !== undefined ? { worker: String(instance.worker) } : {}) }
    registry.add(new Gauge('sluice_instance_info', 'This instance among several sharing a database: host:pid, version and worker index.', (g) => g.set(labels, 1)))
  }
  registry.add(new Gauge('process_start_time_seconds', 'Start time of the process since the epoch, in seconds.', (g) => g.set({}, startedAt)))
  registry.add(new Gauge('process_resident_memory_bytes', 'Resident memory of the process, in bytes.', (g) => g.set({}, process.memoryUsage().rss)))
  registry.add(new Gauge('process_heap_used_bytes', 'JavaScript heap in use, in bytes.', (g) => g.set({}, process.memoryUsage().heapUsed)))
  const requests = registry.add(new Counter('sluice_requests_total', 'Requests by route, model, provider and status code.'))
  const duration = registry.add(new Histogram('sluice_request_duration_seconds', 'Request latency, to the last byte, in seconds.', LATENCY_BUCKETS))
  const ttft = registry.add(new Histogram('sluice_time_to_first_token_seconds', 'Time to the first upstream byte, in seconds.', LATENCY_BUCKETS))
  const tokens = registry.add(new Counter('sluice_tokens_total', 'Tokens by type (prompt, completion, cached, reasoning).'))
  const cost = registry.add(new Counter('sluice_cost_usd_total', 'Cost of the requests, in USD, from the configured prices.'))
  const attempts = registry.add(new Counter('sluice_upstream_attempts_total', 'Upstream attempts by provider and outcome.'))
  const promptTokens = tokens.series({ type: 'prompt' })
  const completionTokens = tokens.series({ type: 'completion' })
  const cachedTokens = tokens.series({ type: 'cached' })
  const reasoningTokens = tokens.series({ type: 'reasoning' })
  const costTotal = cost.series({})
  registry.add(
    new Gauge('sluice_upstream_keys', 'Upstream keys by provider and state (usable, cooling, disabled).', (g) => {
      for (const k of sources.keyStates()) {
        for (const state of ['usable', 'cooling', 'disabled'] as const) g.set({ provider: k.provider, state }, k[state])
      }
    }),
  )
  registry.add(new Gauge('sluice_inflight_requests', 'Requests in flight, streams included.', (g) => g.set({}, sources.inflight().requests)))
  registry.add(new Gauge('sluice_inflight_streams', 'Streams in flight.', (g) => g.set({}, sources.inflight().streams)))
  registry.add(new Gauge('sluice_log_queue_depth', 'Request-log records waiting to be written.', (g) => g.set({}, sources.queue().depth)))
  registry.add(
    new Gauge('sluice_log_dropped_total', 'Request-log records dropped: the queue was full, or the database failed at shutdown.', (g) => {
      const q = sources.queue()
      g.set({ reason: 'queue_full' }, q.dropped)
      g.set({ reason: 'storage_error' }, q.lost ?? 0)
    }),
  )

  const redis = sources.redis
  if (redis) {
    registry.add(new Gauge('sluice_redis_up', 'Whether Redis, which holds the shared limits, answers (1) or not (0).', (g) => g.set({}, redis().up ? 1 : 0)))
    registry.add(
      new Gauge('sluice_redis_fallback_admissions_total', 'Client-key admissions counted in this instance alone because Redis could not be used (on_failure: local).', (g) =>
        g.set({}, redis().fallback),
      ),
    )
    registry.add(
      new Gauge('sluice_redis_refused_admissions_total', 'Client-key admissions refused with a 503 because Redis could not be used (on_failure: reject).', (g) =>
        g.set({}, redis().refused),
      ),
    )
  }

  // Per request, the series are found by label values, without building label objects or keys.
  const requestSeries = new SeriesLookup(([route, model, provider, status]) =>
    requests.series({ route: String(route), model: String(model), provider: String(provider), status: String(status) }),
  )
  const durationSeries = new SeriesLookup(([route]) => duration.seriesOf({ route: String(route) }))
  const ttftSeries = new SeriesLookup(([route]) => ttft.seriesOf({ route: String(route) }))
  const attemptSeries = new SeriesLookup(([provider, outcome]) => attempts.series({ provider: String(provider), outcome: String(outcome) }))

  // API requests finished in each of the last 60 seconds, for the heartbeat's requests per minute.
  const perSecond = new Uint32Array(60)
  let second = Math.floor(Date.now() / 1000)
  const advance = () => {
    const now = Math.floor(Date.now() / 1000)
    if (now - second >= 60) perSecond.fill(0)
    else for (let s = second + 1; s <= now; s++) perSecond[s % 60] = 0
    second = Math.max(second, now)
  }

  return {
    render: () => registry.render(),
    /** API requests (under /v1/) finished in the last minute. */
    requestsPerMinute(): number {
      advance()
      let sum = 0
      for (const n of perSecond) sum += n
      return sum
    },
    attempt(provider: string, outcome: string) {
      attemptSeries.get(provider, outcome).value++
    },
    request(r: RequestRecord, latencyMs: number) {
      if (r.path.startsWith('/v1/')) {
        advance()
        perSecond[second % 60] = (perSecond[second % 60] ?? 0) + 1
      }
      const route = ROUTES.has(r.path) ? r.path : r.path.startsWith('/v1/models/') ? '/v1/models/{id}' : 'other'
      const routed = r.provider !== undefined
      requestSeries.get(route, routed ? (r.model ?? 'none') : 'none', r.provider ?? 'none', r.status ?? 0).value++
      duration.observeIn(durationSeries.get(route), latencyMs / 1000)
      if (r.ttfbMs !== undefined) ttft.observeIn(ttftSeries.get(route), r.ttfbMs / 1000)
      if (r.usage) {
        promptTokens.value += r.usage.promptTokens
        completionTokens.value += r.usage.completionTokens
        cachedTokens.value += r.usage.cachedTokens
        reasoningTokens.value += r.usage.reasoningTokens
      }
      if (r.costUsd) costTotal.value += r.costUsd
    },
  }
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
