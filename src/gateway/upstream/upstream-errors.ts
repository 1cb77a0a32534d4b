import { GatewayError } from '../errors.ts'

const MAX_MESSAGE = 1000

/** The human message inside an upstream error body, whatever its shape. */
export function upstreamMessage(text: string): string | undefined {
  try {
    const json = JSON.parse(text) as any
    const message = json?.error?.message ?? (typeof json?.error === 'string' ? json.error : undefined) ??
      json?.message ?? json?.detail
    if (typeof message === 'string' && message) return message.slice(0, MAX_MESSAGE)
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.trim()
  return trimmed ? trimmed.slice(0, MAX_MESSAGE) : undefined
}

/** A body that is a JSON object with an `error`: kept, so that a client of the same error shape can get it unchanged. */
function errorBody(text: string): string | null {
  try {
    const json = JSON.parse(text) as any
    return json && typeof json === 'object' && json.error && typeof json.error === 'object' ? text : null
  } catch {
    return null
  }
}

/**
 * Maps an upstream's error response to what the client sees. The client's own mistakes (4xx) are
 * passed on; failures of the provider or of its key become 502/503/504, so that a client SDK does
 * not take the gateway's upstream key problem for a problem with its own key.
 */
export function upstreamFailure(provider: string, status: number, rawText: string, secret: string, retryAfter: string | null): GatewayError {
  // An upstream may echo the key it was given; the client must never see it.
  const text = secret ? rawText.replaceAll(secret, '[redacted]') : rawText
  const said = upstreamMessage(text)
  const suffix = said ? `: ${said}` : ''
  const upstreamStatus = status
  if (status === 401 || status === 403) {
    return new GatewayError('upstream_auth_failed', `Provider ${provider} rejected the gateway's API key (HTTP ${status})${suffix}`, { upstreamStatus })
  }
  if (status === 429) {
    const seconds = Number(retryAfter)
    return new GatewayError('upstream_rate_limited', `Provider ${provider} is rate limiting requests${suffix}`, {
      upstreamStatus,
      retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined,
    })
  }
  if (status >= 400 && status < 500) {
    return new GatewayError('upstream_rejected', said ?? `Provider ${provider} rejected the request (HTTP ${status}).`, {
      upstreamStatus,
      status,
      ...(errorBody(text) ? { body: text } : {}),
    })
  }
  if (status === 503) return new GatewayError('upstream_unavailable', `Provider ${provider} is unavailable${suffix}`, { upstreamStatus })
  if (status === 504) return new GatewayError('upstream_timeout', `Provider ${provider} timed out${suffix}`, { upstreamStatus })
  return new GatewayError('upstream_error', `Provider ${provider} failed (HTTP ${status})${suffix}`, { upstreamStatus })
}
