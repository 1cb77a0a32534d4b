import { GatewayError } from '../errors.ts'
import { upstreamFailure } from './upstream-errors.ts'

/**
 * What to do after a failed attempt: try another key at once (this key is the problem), back off
 * and try again, possibly elsewhere (the provider is the problem), or stop (the request is).
 */
export type Verdict =
  | { action: 'rate_limited'; error: GatewayError }
  | { action: 'key_dead'; error: GatewayError; reason: string }
  | { action: 'backoff'; error: GatewayError }
  | { action: 'final'; error: GatewayError }

/** `deadKey`: the provider type's wording for a key that cannot be used, whatever status carried it. */
export function judgeUpstreamError(provider: string, status: number, text: string, key: string, retryAfter: string | null, deadKey: RegExp): Verdict {
  const error = upstreamFailure(provider, status, text, key, retryAfter)
  if (status === 401 || status === 403 || status === 402 || ((status === 429 || status === 400) && deadKey.test(text))) {
    return { action: 'key_dead', error, reason: `HTTP ${status}: ${error.message}`.slice(0, 500) }
  }
  if (status === 429) return { action: 'rate_limited', error }
  if (status >= 500 || status === 408) return { action: 'backoff', error }
  return { action: 'final', error }
}

/** Network failures and timeouts before the first byte: the provider's problem, worth a retry. */
export function judgeTransportError(error: GatewayError): Verdict {
  return { action: 'backoff', error }
}

/**
 * An upstream that answers with a redirect is failing: following it would send the prompt, the
 * key and the configured headers to an address nobody configured. Another target may answer.
 */
export function judgeRedirect(provider: string, status: number): Verdict {
  const error = new GatewayError('upstream_error', `Provider ${provider} answered with a redirect (HTTP ${status}), which the gateway does not follow.`, {
    upstreamStatus: status,
  })
  return { action: 'backoff', error }
}
