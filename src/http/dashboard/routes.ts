import { Elysia } from 'elysia'
import pageText from '../../dashboard/index.html' with { type: 'text' }
// uPlot (the trends charts), embedded in the binary and served from here: never from another host.
import uplotJs from 'uplot/dist/uPlot.iife.min.js' with { type: 'text' }
import uplotCss from 'uplot/dist/uPlot.min.css' with { type: 'text' }
import { GatewayError } from '../../gateway/errors.ts'
import { isAdminToken } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import { Sessions } from '../sessions.ts'
import type { Traces } from '../traces.ts'
import { readBody } from '../read-body.ts'
import { parseJson } from '../../gateway/request-body.ts'
import { LOGIN_BODY_LIMIT } from '../request-guard.ts'

// Imported as text (embedded in the binary); Bun's types describe HTML imports as bundles.
const page = pageText as unknown as string
const ASSETS: Record<string, { body: string; type: string }> = {
  'uplot.js': { body: uplotJs as unknown as string, type: 'text/javascript; charset=utf-8' },
  'uplot.css': { body: uplotCss as unknown as string, type: 'text/css; charset=utf-8' },
}

/** Login attempts a minute from one address (one /64 for IPv6). */
const LOGIN_ATTEMPTS_PER_MINUTE = 10
/** Login attempts a minute from all addresses together: rotating addresses guesses no faster. */
const LOGIN_ATTEMPTS_PER_MINUTE_OVERALL = 60
const MAX_TOKEN_CHARS = 1000

const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // The page's own script and style are inline, uPlot comes from /dashboard/assets (same origin);
  // nothing may be framed or loaded from elsewhere.
  'content-security-policy': "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** The dashboard page and its login: the admin token buys an HttpOnly, SameSite=Strict session. */
export const dashboardRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'dashboard-routes' })
    .get('/dashboard', ({ request }) => traces.finish(request, new Response(page, { headers: HTML_HEADERS })))
    .get('/dashboard/assets/:name', ({ request, params }) => {
      const asset = Object.hasOwn(ASSETS, params.name) ? ASSETS[params.name]! : null
      if (!asset) throw new GatewayError('not_found', 'No such dashboard asset.')
      return traces.finish(
        request,
        new Response(asset.body, { headers: { 'content-type': asset.type, 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=86400' } }),
      )
    })
    .get('/', ({ request }) => traces.finish(request, Response.redirect('/dashboard', 302)))
    .get('/dashboard/session', ({ request }) =>
      traces.finish(request, Response.json({ authenticated: deps.sessions.valid(Sessions.idOf(request)) })),
    )
    .post(
      '/dashboard/login',
      async ({ request }) => {
        // Guessing the token is slowed to a few tries a minute, before the body is even read.
        await deps.limiter.admitLogin(traces.of(request).record.clientIp ?? null, LOGIN_ATTEMPTS_PER_MINUTE, LOGIN_ATTEMPTS_PER_MINUTE_OVERALL)
        const body = parseJson(await readBody(request, LOGIN_BODY_LIMIT, deps.config().server.body_timeout_ms)) as { token?: unknown } | null
        const token = body?.token
        if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) {
          throw new GatewayError('invalid_request', `Invalid request body: token: expected a string of at most ${MAX_TOKEN_CHARS} characters`, { param: 'token' })
        }
        if (!isAdminToken(deps, token)) throw new GatewayError('invalid_api_key', 'That is not the admin token.')
        const id = deps.sessions.create()
        const secure = request.headers.get('x-forwarded-proto') === 'https' || request.url.startsWith('https:')
        return traces.finish(request, Response.json({ authenticated: true }, { headers: { 'set-cookie': deps.sessions.cookie(id, secure) } }))
      },
      { parse: 'none' },
    )
    .post('/dashboard/logout', ({ request }) => {
      deps.sessions.revoke(Sessions.idOf(request))
      return traces.finish(request, Response.json({ authenticated: false }, { headers: { 'set-cookie': Sessions.clearCookie() } }))
    })
