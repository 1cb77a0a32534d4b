/** Every way a request can fail, with the HTTP status each one means. */
export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_api_key: 401,
  model_not_allowed: 403,
  ip_not_allowed: 403,
  model_not_found: 404,
  /** The upstream refused the request itself (a 4xx other than auth or rate limit). */
  upstream_rejected: 400,
  /** The chosen provider cannot do this (embeddings from an Anthropic provider, say). */
  unsupported: 400,
  not_found: 404,
  body_too_large: 413,
  conflict: 409,
  /** The client stopped reading a stream for longer than the stream silence limit. */
  client_stalled: 408,
  upstream_rate_limited: 429,
  all_keys_cooling: 429,
  rate_limited: 429,
  quota_exceeded: 429,
  upstream_error: 502,
  upstream_unreachable: 502,
  upstream_auth_failed: 502,
  no_usable_upstream: 503,
  upstream_unavailable: 503,
  shutting_down: 503,
  /** A write the request needed failed: the database is locked, full, read-only or failing. */
  storage_unavailable: 503,
  /** The key's limits are kept in a shared store (Redis) that cannot be reached, and the policy is to refuse. */
  limits_unavailable: 503,
  upstream_timeout: 504,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export interface GatewayErrorDetails {
  /** The request field at fault, for 400s. */
  param?: string
  retryAfterMs?: number
  /** Upstream status that caused this error, kept for logs. */
  upstreamStatus?: number
  /** Whether another try by the client could help (`x-should-retry`); unset leaves it to the SDK. */
  shouldRetry?: boolean
  /** Overrides the status of the code (an upstream 4xx passed on as is). */
  status?: number
  /** The upstream's error body: each client edge sends it unchanged when it is in its own error shape. */
  body?: string
  /** Extra response headers (the client's rate-limit state). */
  headers?: Record<string, string>
  /** What the operator's log and request log say instead of the message (the client's answer stays uniform). */
  logMessage?: string
}

/**
 * A failure with meaning; the HTTP edge renders it in the caller's API shape. The message is
 * shown to the client, so it never contains a secret.
 */
export class GatewayError extends Error {
  readonly status: number

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: GatewayErrorDetails = {},
  ) {
    super(message)
    this.status = details.status ?? ERROR_STATUS[code]
  }
}
