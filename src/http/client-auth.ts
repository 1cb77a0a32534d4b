import { Elysia } from 'elysia'
import { GatewayError } from '../gateway/errors.ts'
import type { ClientKey } from '../gateway/client-keys.ts'
import type { Deps } from './deps.ts'

const ANONYMOUS: ClientKey = { id: 'anonymous', name: 'anonymous' }

/** The key a client presented: `Authorization: Bearer`, `x-api-key` or `api-key`. */
export function readPresentedKey(headers: Headers): string | null {
  const authorization = headers.get('authorization')
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization)
    if (match) return match[1]!.trim()
  }
  return headers.get('x-api-key') ?? headers.get('api-key')
}

/** `clientKey: true` on a route requires a valid client key and puts it in the context. */
export const clientAuth = (deps: Deps) =>
  new Elysia({ name: 'client-auth' }).macro('clientKey', {
    // Reads request.headers directly: Elysia's lazy `headers` object depends on static analysis of
    // parameter names, which minification in the compiled binary defeats.
    resolve({ request }) {
      if (!deps.config().auth.required) return { clientKey: ANONYMOUS }
      const key = deps.keys.find(readPresentedKey(request.headers))
      if (!key) {
        throw new GatewayError(
          'invalid_api_key',
          'Incorrect API key provided. Use a client key of this gateway as a Bearer token or in the x-api-key header.',
        )
      }
      return { clientKey: key }
    },
  })
