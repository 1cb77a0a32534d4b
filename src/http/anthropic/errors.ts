import type { GatewayError } from '../../gateway/errors.ts'
import { encodeNamedEvent } from '../../lib/sse.ts'
import { retryHeaders } from '../retry-headers.ts'

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
}

function errorObject(error: GatewayError) {
  return { type: TYPE_BY_STATUS[error.status] ?? 'api_error', message: error.message }
}

/** Whether an upstream's error body is already in Anthropic's shape. */
function isAnthropicError(text: string): boolean {
  try {
    const json = JSON.parse(text)
    return json?.type === 'error' && typeof json.error?.type === 'string'
  } catch {
    return false
  }
}

/** Anthropic's error shape: `{"type":"error","error":{"type","message"},"request_id"}`. */
export function renderAnthropicError(error: GatewayError, requestId: string): Response {
  const own = error.details.body && isAnthropicError(error.details.body) ? error.details.body : null
  const body = own ?? JSON.stringify({ type: 'error', error: errorObject(error), request_id: requestId })
  return new Response(body, { status: error.status, headers: { 'content-type': 'application/json', 'request-id': requestId, ...retryHeaders(error) } })
}

/** A mid-stream failure as the Anthropic SDKs expect it: a named `error` event. */
export function anthropicStreamError(error: GatewayError): Uint8Array {
  return encodeNamedEvent('error', JSON.stringify({ type: 'error', error: errorObject(error) }))
}

export const ANTHROPIC_PING = encodeNamedEvent('ping', '{"type": "ping"}')
