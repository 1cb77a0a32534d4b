import type { GatewayError } from '../../gateway/errors.ts'
import { sseEvent } from '../../lib/sse.ts'
import { retryHeaders } from '../retry-headers.ts'

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  408: 'DEADLINE_EXCEEDED',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
}

/** Whether a path is Gemini's API: `/v1beta/...`, or `/v1/models/{model}:{method}`. */
export function isGeminiPath(path: string): boolean {
  return path.startsWith('/v1beta/') || path === '/v1beta' || /^\/v1\/models\/[^?]*:/.test(path)
}

/** Google's error object; a 429 says how long to wait in a RetryInfo, as Gemini CLI reads it. */
export function geminiErrorBody(error: GatewayError): string {
  const details: object[] = []
  const wait = error.details.retryAfterMs
  if (error.status === 429 && wait !== undefined) {
    details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${Math.max(1, Math.ceil(wait / 1000))}s` })
  }
  return JSON.stringify({ error: { code: error.status, message: error.message, status: STATUS_NAMES[error.status] ?? 'UNKNOWN', ...(details.length ? { details } : {}) } })
}

/** Whether an upstream's error body is already in Google's shape. */
function isGeminiError(text: string): boolean {
  try {
    const json = JSON.parse(text)
    const e = Array.isArray(json) ? json[0]?.error : json?.error
    return typeof e?.code === 'number' && typeof e?.status === 'string'
  } catch {
    return false
  }
}

export function renderGeminiError(error: GatewayError): Response {
  const own = error.details.body && isGeminiError(error.details.body) ? error.details.body : null
  return new Response(own ?? geminiErrorBody(error), { status: error.status, headers: { 'content-type': 'application/json', ...retryHeaders(error) } })
}

/** A mid-stream failure: a chunk holding only `error`, which the GenAI SDK raises. */
export function geminiStreamError(error: GatewayError): Uint8Array {
  return new TextEncoder().encode(sseEvent(geminiErrorBody(error)))
}
