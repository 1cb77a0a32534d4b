import { Elysia, t } from 'elysia'
import pageText from '../../dashboard/index.html' with { type: 'text' }
import { GatewayError } from '../../gateway/errors.ts'
import { isAdminToken } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import { Sessions } from '../sessions.ts'
import type { Traces } from '../traces.ts'

// Imported as text (embedded in the binary); Bun's types describe HTML imports as bundles.
const page = pageText as unknown as string

const LOGIN_ATTEMPTS_PER_MINUTE = 10

const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // Everything is inline and same-origin; nothing may be framed or loaded from elsewhere.
  'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/** The dashboard page and its login: the admin token buys an HttpOnly, SameSite=Strict session. */
export const dashboardRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'dashboard-routes' })
    .get('/dashboard', ({ request }) => traces.finish(request, new Response(page, { headers: HTML_HEADERS })))
    .get('/', ({ request }) => traces.finish(request, Response.redirect('/dashboard', 302)))
    .get('/dashboard/session', ({ request }) =>
      traces.finish(request, Response.json({ authenticated: deps.sessions.valid(Sessions.idOf(request)) })),
    )
    .post(
      '/dashboard/login',
      ({ request, body }) => {
        // Guessing the token is slowed to a few tries a minute per address.
        deps.limiter.admitIp(`login:${traces.of(request).record.clientIp ?? 'unknown'}`, LOGIN_ATTEMPTS_PER_MINUTE)
        if (!isAdminToken(deps, body.token)) throw new GatewayError('invalid_api_key', 'That is not the admin token.')
        const id = deps.sessions.create()
        const secure = request.headers.get('x-forwarded-proto') === 'https' || request.url.startsWith('https:')
        return traces.finish(request, Response.json({ authenticated: true }, { headers: { 'set-cookie': deps.sessions.cookie(id, secure) } }))
      },
      { body: t.Object({ token: t.String({ maxLength: 1000 }) }) },
    )
    .post('/dashboard/logout', ({ request }) => {
      deps.sessions.revoke(Sessions.idOf(request))
      return traces.finish(request, Response.json({ authenticated: false }, { headers: { 'set-cookie': Sessions.clearCookie() } }))
    })
