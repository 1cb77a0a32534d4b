import type { Config } from '../config/schema.ts'
import { GatewayError } from '../gateway/errors.ts'
import { parseJson } from '../gateway/request-body.ts'
import { ADMIN_UNAUTHORIZED, adminAllowed } from './admin-auth.ts'
import type { Deps } from './deps.ts'
import { checkDeclaredLength, readBody } from './read-body.ts'

/** The admin API's bodies are small JSON documents (a key and its policy). */
export const ADMIN_BODY_LIMIT = 1024 * 1024
/** A login body holds one token. */
export const LOGIN_BODY_LIMIT = 4 * 1024

/** The largest body a path takes: the configured limit for the client API, small fixed ones elsewhere. */
export function bodyLimitFor(path: string, config: Config): number {
  if (path.startsWith('/v1/')) return config.server.max_body_bytes
  if (path === '/dashboard/login') return LOGIN_BODY_LIMIT
  return ADMIN_BODY_LIMIT
}

/**
 * What is checked as a request arrives, before routing and before any byte of its body is read:
 * the declared length against the path's limit, and the admin credentials on the admin API (the
 * route's own check runs again later; this one only keeps strangers from sending bodies).
 */
export function guardArrival(deps: Deps, request: Request, path: string): void {
  checkDeclaredLength(request, bodyLimitFor(path, deps.config()))
  if (path.startsWith('/admin/api/') && !adminAllowed(deps, request)) throw new GatewayError('invalid_api_key', ADMIN_UNAUTHORIZED)
}

/**
 * An Elysia parse hook for JSON routes: the body is read through the counted reader (its limit and
 * deadline hold for chunked uploads too) and refused past the depth limit. An empty body is null,
 * so the route's schema says what is missing.
 */
export function boundedJson(deps: Deps, limit: number) {
  return async ({ request }: { request: Request }): Promise<unknown> => {
    const raw = await readBody(request, limit, deps.config().server.body_timeout_ms)
    return raw.byteLength === 0 ? null : parseJson(raw)
  }
}
