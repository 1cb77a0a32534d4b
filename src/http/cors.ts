import { Elysia } from 'elysia'
import type { Traces } from './traces.ts'

// Browser clients (web chat apps, SDKs with dangerouslyAllowBrowser) read these.
const EXPOSE = [
  'x-request-id', 'request-id', 'retry-after', 'retry-after-ms', 'x-should-retry',
  'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens',
  'x-sluice-provider', 'x-sluice-model', 'x-sluice-attempts', 'x-sluice-overhead-ms',
].join(', ')

/** CORS applies to the client API only; the admin API and the dashboard stay same-origin. */
export function isCorsPath(path: string): boolean {
  return path.startsWith('/v1/')
}

/** Adds the CORS headers a browser needs to read an API response. */
export function addCorsHeaders(request: Request, response: Response): void {
  const origin = request.headers.get('origin')
  if (!origin) return
  response.headers.set('access-control-allow-origin', '*')
  response.headers.set('access-control-expose-headers', EXPOSE)
}

/** Answers preflight requests on the API routes: any origin, the headers the browser asks for. */
export const corsPreflight = (traces: Traces) =>
  new Elysia({ name: 'cors-preflight' }).options('/v1/*', ({ request }) =>
    traces.finish(
      request,
      new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET, POST, OPTIONS',
          'access-control-allow-headers': request.headers.get('access-control-request-headers') ?? 'authorization, content-type',
          'access-control-max-age': '86400',
        },
      }),
    ),
  )
