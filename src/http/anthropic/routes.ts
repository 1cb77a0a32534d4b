import { Elysia } from 'elysia'
import { clientAuth } from '../client-auth.ts'
import type { Deps } from '../deps.ts'
import { proxyHandler } from '../proxy-route.ts'
import type { Traces } from '../traces.ts'
import { ANTHROPIC_PING, anthropicStreamError } from './errors.ts'

/** The Anthropic Messages API. Claude Code adds `?beta=true`, which routing ignores. */
export const anthropicRoutes = (deps: Deps, traces: Traces) => {
  const proxy = proxyHandler(deps, traces, {
    renderStreamError: anthropicStreamError,
    heartbeat: ANTHROPIC_PING,
    passHeaders: ['anthropic-version', 'anthropic-beta'],
  })
  return new Elysia({ name: 'anthropic-routes' })
    .use(clientAuth(deps, traces))
    .post('/v1/messages', ({ request, clientKey }) => proxy('messages', request, clientKey), { clientKey: true, parse: 'none' })
    .post('/v1/messages/count_tokens', ({ request, clientKey }) => proxy('count_tokens', request, clientKey, { estimate: (tokens) => ({ input_tokens: tokens }) }), {
      clientKey: true,
      parse: 'none',
    })
}
