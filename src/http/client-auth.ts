import { Elysia } from 'elysia'
import { clientKey, OPEN_POLICY, type ClientKey } from '../gateway/access/client-keys.ts'
import { GatewayError } from '../gateway/errors.ts'
import type { Deps } from './deps.ts'
import type { Traces } from './traces.ts'

const ANONYMOUS: ClientKey = clientKey('anonymous', 'anonymous', OPEN_POLICY)

/** The key a client presented: `Authorization: Bearer`, `x-api-key`, `api-key`, `x-goog-api-key`, `?api_key=` or `?key=`. */
export function readPresentedKey(request: Request): string | null {
  const headers = request.headers
  const authorization = headers.get('authorization')
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization)
    if (match) return match[1]!.trim()
  }
  const header = headers.get('x-api-key') ?? headers.get('api-key') ?? headers.get('x-goog-api-key')
  if (header !== null) return header
  const url = request.url
  const query = url.indexOf('?')
  if (query < 0) return null
  const params = new URLSearchParams(url.slice(query + 1))
  return params.get('api_key') ?? params.get('key')
}

/** No key of ours is this long; a longer one is not worth hashing. */
const MAX_KEY_CHARS = 1024

const UNAUTHORIZED = 'Incorrect API key provided. Use a client key of this gateway as a Bearer token or in the x-api-key header.'

/** `clientKey: true` on a route requires a valid client key and puts it in the context. */
export const clientAuth = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'client-auth' }).macro('clientKey', {
    // Reads request.headers directly: Elysia's lazy `headers` object depends on static analysis of
    // parameter names, which minification in the compiled binary defeats.
    // Async: shared limits answer later. (Elysia awaited this resolve before too: it takes a function
    // whose minified source returns a call for an async one.)
    async resolve({ request }) {
      // Looked up once per request, when its trace began.
      const ip = traces.of(request).record.clientIp ?? null
      const ipRpm = deps.config().limits.ip_rpm
      const counted = ipRpm !== null && ip !== null ? deps.limiter.admitIp(ip, ipRpm) : undefined
      if (counted instanceof Promise) await counted
      return authenticate(deps, traces, request, ip)
    },
  })

/** The client key a request presents, if it may be used from this address. */
function authenticate(deps: Deps, traces: Traces, request: Request, ip: string | null): { clientKey: ClientKey } {
  if (!deps.config().auth.required) return { clientKey: ANONYMOUS }
  // Missing, unknown, revoked, disabled and expired keys all get the same answer.
  const presented = readPresentedKey(request)
  const key = deps.keys.find(presented !== null && presented.length > MAX_KEY_CHARS ? null : presented)
  if (!key) {
    // The client's answer is the same whatever the cause; the operator's record says which key and why.
    const why = presented !== null && presented.length <= MAX_KEY_CHARS ? deps.keys.explain?.(presented) : null
    const record = traces.of(request).record
    if (why) {
      record.clientKey = why.name
      record.clientKeyId = why.id
    }
    const logMessage = why ? `The key ${why.name} is ${why.reason}.` : presented === null ? 'No key was presented.' : `An unknown key was presented (starting ${presented.slice(0, 6)}).`
    throw new GatewayError('invalid_api_key', UNAUTHORIZED, { logMessage })
  }
  if (!key.allowsIp(ip)) throw new GatewayError('ip_not_allowed', 'This key may not be used from your address.')
  deps.keyUsed(key.id)
  return { clientKey: key }
}
