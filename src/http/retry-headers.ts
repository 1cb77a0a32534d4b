import type { GatewayError } from '../gateway/errors.ts'

/** What both official SDKs read to decide on a retry: x-should-retry, retry-after-ms, retry-after. */
export function retryHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = {}
  if (error.details.shouldRetry !== undefined) headers['x-should-retry'] = String(error.details.shouldRetry)
  if (error.details.retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.ceil(error.details.retryAfterMs / 1000))
    headers['retry-after-ms'] = String(Math.ceil(error.details.retryAfterMs))
  }
  return headers
}
