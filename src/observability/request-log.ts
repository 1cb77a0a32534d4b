import type { RequestRecord } from '../gateway/record.ts'
import type { Logger } from './logger.ts'

/** One line per request: who, what, where it went, how it ended, how long, how many tokens. */
export function logRequest(logger: Logger, r: RequestRecord, latencyMs: number): void {
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
    tokens: r.usage
      ? { prompt: r.usage.promptTokens, completion: r.usage.completionTokens, cached: r.usage.cachedTokens }
      : undefined,
    outcome: r.outcome,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage } : undefined,
  }
  // Probes would drown the log at info level.
  if (r.path === '/health') logger.debug(line, 'request')
  else logger.info(line, 'request')
}
