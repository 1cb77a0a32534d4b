import type { ErrorCode, GatewayError } from '../../gateway/errors.ts'
import { encodeDataEvent, encodeNamedEvent } from '../../lib/sse.ts'
import { retryHeaders } from '../retry-headers.ts'

const TYPES: Partial<Record<ErrorCode, string>> = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  invalid_api_key: 'invalid_request_error',
  model_not_found: 'invalid_request_error',
  not_found: 'invalid_request_error',
  body_too_large: 'invalid_request_error',
  upstream_rejected: 'invalid_request_error',
  upstream_rate_limited: 'rate_limit_error',
  all_keys_cooling: 'rate_limit_error',
  rate_limited: 'rate_limit_error',
  quota_exceeded: 'insufficient_quota',
  model_not_allowed: 'permission_error',
  ip_not_allowed: 'permission_error',
}

const CODES: Partial<Record<ErrorCode, string | null>> = {
  invalid_json: null,
  invalid_request: null,
  upstream_rejected: null,
  not_found: 'unknown_url',
  body_too_large: 'request_too_large',
  upstream_rate_limited: 'rate_limit_exceeded',
  rate_limited: 'rate_limit_exceeded',
}

/** The OpenAI error object: `{error:{message,type,param,code}}`, all four always present. */
export function openAIErrorBody(error: GatewayError): string {
  return JSON.stringify({
    error: {
      message: error.message,
      type: TYPES[error.code] ?? 'api_error',
      param: error.details.param ?? null,
      code: error.code in CODES ? CODES[error.code] : error.code,
    },
  })
}

/** Whether an upstream's error body is already in OpenAI's shape (and not Anthropic's, which also has `error.message`). */
function isOpenAIError(text: string): boolean {
  try {
    const json = JSON.parse(text)
    return json?.type !== 'error' && typeof json?.error?.message === 'string'
  } catch {
    return false
  }
}

export function renderOpenAIError(error: GatewayError): Response {
  const own = error.details.body && isOpenAIError(error.details.body) ? error.details.body : null
  const body = own ?? openAIErrorBody(error)
  return new Response(body, { status: error.status, headers: { 'content-type': 'application/json', ...retryHeaders(error) } })
}

/** A mid-stream failure as the OpenAI SDKs expect it: a data event whose object has `error`. */
export function openAIStreamError(error: GatewayError): Uint8Array {
  return encodeDataEvent(openAIErrorBody(error))
}

/**
 * A mid-stream failure for Responses clients: an `error` event, which the OpenAI SDKs raise as an
 * APIError and Codex treats as a failed turn (never a normal end).
 */
export function responsesStreamError(error: GatewayError): Uint8Array {
  const { error: e } = JSON.parse(openAIErrorBody(error))
  return encodeNamedEvent('error', JSON.stringify({ type: 'error', code: e.code ?? 'server_error', message: e.message, param: e.param, sequence_number: 0 }))
}
