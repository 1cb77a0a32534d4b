import { Elysia } from 'elysia'
import { GatewayError } from '../gateway/errors.ts'
import { constantTimeEqual, sha256Hex } from '../lib/crypto.ts'
import type { Deps } from './deps.ts'
import { CSRF_HEADER, Sessions } from './sessions.ts'

/** Whether a presented admin token is the admin token (hashes compared in constant time). */
export function isAdminToken(deps: Deps, token: string | null): boolean {
  // A token longer than any real one is not worth hashing.
  return token !== null && token.length <= 1024 && constantTimeEqual(sha256Hex(token.trim()), deps.adminTokenHash())
}

/**
 * Whether a request may use the admin API: the admin token as a Bearer token, or a dashboard
 * session cookie, which for anything but reads also needs the CSRF header.
 */
export function adminAllowed(deps: Deps, request: Request): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '')
  if (match) return isAdminToken(deps, match[1]!)
  if (!deps.sessions.valid(Sessions.idOf(request))) return false
  return request.method === 'GET' || request.headers.get(CSRF_HEADER) === '1'
}

export const ADMIN_UNAUTHORIZED = 'This route needs the admin token as a Bearer token.'

/** `admin: true` on a route requires the admin token or a dashboard session. */
export const adminAuth = (deps: Deps) =>
  new Elysia({ name: 'admin-auth' }).macro('admin', {
    // transform runs before body validation, so a caller without the token learns nothing more.
    transform({ request }) {
      if (!adminAllowed(deps, request)) {
        throw new GatewayError('invalid_api_key', ADMIN_UNAUTHORIZED)
      }
    },
  })
