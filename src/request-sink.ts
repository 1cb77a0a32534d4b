import type { Config } from './config/schema.ts'
import { estimateTokens } from './gateway/access/limits/limiter.ts'
import { costOf } from './gateway/access/limits/pricing.ts'
import type { RequestRecord, RequestTrace } from './gateway/record.ts'
import type { Usage } from './gateway/usage.ts'
import type { GatewayMetrics } from './gateway-metrics.ts'
import type { LineWriter } from './observability/logger.ts'
import type { LogRow, RequestWriter } from './storage/request-writer.ts'

export interface SinkDeps {
  config(): Config
  line: LineWriter
  writer: RequestWriter
  metrics: GatewayMetrics
  /** Removes known secrets from a text (the logger's scrubber). */
  scrub(text: string): string
  /** Told about every stored row, for the dashboard's live tail. */
  publish(row: LogRow): void
}

const decoder = new TextDecoder()
// Key-looking strings in bodies: provider keys and ours.
const KEYLIKE = /\b(sk-[A-Za-z0-9_\-]{12,}|sk-ant-[A-Za-z0-9_\-]{12,}|sluice-admin-[A-Za-z0-9]{12,})/g

/** One line per request in the process log: who, what, where, how it ended, how long, tokens. */
function logLine(write: LineWriter, r: RequestRecord, latencyMs: number): void {
  const line = {
    req_id: r.requestId,
    method: r.method,
    path: r.path,
    client: r.clientKey,
    model: r.model,
    provider: r.provider,
    status: r.status,
    latency_ms: latencyMs,
    ttfb_ms: r.ttfbMs,
    stream: r.stream,
    alias: r.alias,
    attempts: r.attempts,
    delivered: r.delivered,
    tokens: r.usage ? { prompt: r.usage.promptTokens, completion: r.usage.completionTokens, cached: r.usage.cachedTokens } : undefined,
    outcome: r.outcome,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage } : undefined,
  }
  // Probes would drown the log at info level.
  const quiet = r.path.startsWith('/health') || r.path === '/readyz' || r.path === '/metrics' || r.path.startsWith('/dashboard') || r.path.startsWith('/admin/')
  // Failures of the gateway or its upstreams show at --log-level warn; a client's own mistakes do not.
  const failed = (r.status ?? 0) >= 500 || (r.outcome === 'error' && r.status === 200)
  write(failed ? 'warn' : quiet ? 'debug' : 'info', line, 'request')
}

/**
 * Usage as reported by the upstream; or, for a stream the client left early, an estimate (about
 * one token per delivered event, four bytes of request per prompt token); or none.
 */
export function usageWithSource(r: RequestRecord): { usage: Usage | undefined; source: 'reported' | 'estimated' | 'missing' } {
  if (r.usage) return { usage: r.usage, source: 'reported' }
  if (r.stream && r.delivered && r.delivered.events > 0) {
    return {
      usage: { promptTokens: estimateTokens(r.requestBytes ?? 0), completionTokens: r.delivered.events, cachedTokens: 0, reasoningTokens: 0 },
      source: 'estimated',
    }
  }
  return { usage: undefined, source: 'missing' }
}

/** Where every finished request goes: the process log, the metrics, the request log. */
export function createRequestSink(deps: SinkDeps) {
  const bodyText = (body: Uint8Array | string | undefined, cap: number): string | null => {
    if (body === undefined) return null
    const text = typeof body === 'string' ? body : decoder.decode(body.subarray(0, cap * 4))
    return deps.scrub(text.slice(0, cap)).replace(KEYLIKE, '[redacted]')
  }

  return (r: RequestRecord, latencyMs: number, trace: RequestTrace): void => {
    logLine(deps.line, r, latencyMs)
    deps.metrics.request(r, latencyMs)
    // Only the API's traffic is recorded, not probes or the dashboard.
    if (!r.path.startsWith('/v1/')) return
    const config = deps.config()
    const { usage, source } = usageWithSource(r)
    const status = r.status ?? 0
    const keep = trace.capture === 'all' || (trace.capture === 'errors' && status >= 400)
    const cost = r.costUsd ?? (source === 'estimated' ? costOf(config.prices, [`${r.provider}/${r.upstreamModel}`, r.upstreamModel ?? '', r.model ?? ''], usage) : null)
    const row: LogRow = {
      ts: r.startedAt,
      requestId: r.requestId,
      keyId: r.clientKeyId ?? null,
      keyName: r.clientKey ?? null,
      clientIp: r.clientIp ?? null,
      method: r.method,
      endpoint: r.path,
      model: r.model ?? null,
      alias: r.alias ?? null,
      provider: r.provider ?? null,
      upstreamModel: r.upstreamModel ?? null,
      upstreamKey: r.upstreamKey ?? null,
      status,
      errorType: r.errorCode ?? null,
      errorMessage: r.errorMessage ?? null,
      attempts: r.attempts ?? null,
      stream: r.stream === true,
      latencyMs,
      ttftMs: r.ttfbMs ?? null,
      promptTokens: usage?.promptTokens ?? null,
      completionTokens: usage?.completionTokens ?? null,
      cachedTokens: usage?.cachedTokens ?? null,
      reasoningTokens: usage?.reasoningTokens ?? null,
      costUsd: cost ?? null,
      usageSource: source,
      deliveredEvents: r.delivered?.events ?? null,
      requestBody: keep ? bodyText(trace.requestBody, config.logging.max_body_bytes) : null,
      responseBody: keep ? bodyText(trace.responseBody, config.logging.max_body_bytes) : null,
    }
    deps.writer.enqueue(row)
    deps.publish(row)
  }
}
