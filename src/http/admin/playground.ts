import { Elysia, t } from 'elysia'
import { clientKey } from '../../gateway/access/client-keys.ts'
import { GatewayError } from '../../gateway/errors.ts'
import type { RequestTrace } from '../../gateway/record.ts'
import { ClientClosed } from '../../gateway/upstream/upstream-call.ts'
import { clip } from '../../lib/clip.ts'
import { encodeComment } from '../../lib/sse.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import { openAIStreamError } from '../openai/errors.ts'
import { proxyHandler } from '../proxy-route.ts'
import { ADMIN_BODY_LIMIT, boundedJson } from '../request-guard.ts'
import type { Traces } from '../traces.ts'

/** What one playground message may be at most. */
const MAX_MESSAGE_CHARS = 32_000
/** How much of an error message the request record keeps (as app.ts keeps it). */
const MAX_ERROR_MESSAGE = 2000
/** The path the playground's requests are made and logged under. */
const CHAT_PATH = '/v1/chat/completions'

const PlaygroundBody = t.Object(
  {
    key_id: t.String({ minLength: 1, maxLength: 256 }),
    model: t.String({ minLength: 1, maxLength: 256 }),
    message: t.String({ minLength: 1, maxLength: MAX_MESSAGE_CHARS }),
  },
  { additionalProperties: false },
)

/** Why a stored key cannot be used now, as the client API would refuse it; null when it can. */
function refusal(key: { revokedAt: number | null; enabled: boolean; expiresAt: number | null }, now: number): string | null {
  if (key.revokedAt !== null) return 'revoked'
  if (!key.enabled) return 'disabled'
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired'
  return null
}

/**
 * Ends the record of a chat request that failed before it answered, as the app's error hook ends
 * the record of a client's own request (that hook sees only the admin request).
 */
function completeFailed(trace: RequestTrace, error: unknown): void {
  if (error instanceof ClientClosed) return trace.complete({ status: 499, outcome: 'client_closed', errorCode: 'upstream_error', errorMessage: 'The client closed the request.' })
  const failure = error instanceof GatewayError ? error : new GatewayError('upstream_error', 'The gateway failed unexpectedly; the error has been logged.', { status: 500 })
  if (trace.capture !== 'none') trace.responseBody = failure.details.body ?? JSON.stringify({ error: { code: failure.code, message: failure.message } })
  trace.complete({ status: failure.status, outcome: 'error', errorCode: failure.code, errorMessage: clip(failure.details.logMessage ?? failure.message, MAX_ERROR_MESSAGE) })
}

/** Made outside the handler, so that the stream's closure does not keep the handler's scope alive. */
function releaseWhenDone(deps: Deps, request: Request): () => void {
  return () => deps.releaseOpen(request)
}

/**
 * The models clients can ask for (for the dashboard's snippets and playground), and the playground:
 * one chat completion made by the admin session as a chosen client key, through the same pipeline
 * as the key's own requests (its models, limits and quota apply; usage counts to it; it is logged
 * under /v1/chat/completions). The key's secret is never needed nor shown.
 */
export const playgroundRoutes = (deps: Deps, traces: Traces) => {
  const chat = proxyHandler(deps, traces, { renderStreamError: openAIStreamError, heartbeat: encodeComment('ping'), passHeaders: [] })
  return new Elysia({ name: 'admin-playground-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .get(
      '/models',
      ({ request }) => traces.finish(request, Response.json({ data: deps.gateway.models() })),
      { admin: true, detail: { summary: 'The models clients can ask for (GET /v1/models for every key): ids and providers, aliases as provider sluice-alias', tags: ['playground'] } },
    )
    .post(
      '/playground',
      async ({ request, body }) => {
        const stored = await deps.keyStore.get(body.key_id)
        if (!stored) throw new GatewayError('not_found', `No key ${clip(body.key_id, 64)}.`, { param: 'key_id' })
        const why = refusal(stored, deps.now())
        if (why) throw new GatewayError('conflict', `The key ${clip(stored.name, 100)} is ${why}.`, { param: 'key_id' })
        const key = clientKey(stored.id, stored.name, stored.policy)
        const admin = traces.of(request)
        // The request the key would have sent, with its own record; the admin request's signal ends it.
        const inner = new Request(new URL(CHAT_PATH, request.url).href, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: body.model, messages: [{ role: 'user', content: body.message }], stream: true, stream_options: { include_usage: true } }),
          signal: request.signal,
        })
        const trace = traces.begin(inner)
        trace.record.clientIp = admin.record.clientIp ?? null
        deps.keyUsed(key.id)
        deps.keepOpen(request)
        trace.onDone(releaseWhenDone(deps, request))
        let response: Response
        try {
          response = await chat('chat', inner, key)
        } catch (err) {
          completeFailed(trace, err)
          throw err
        }
        // The id of the logged chat request, not of this admin request.
        const id = response.headers.get('x-request-id')
        traces.finish(request, response)
        if (id) response.headers.set('x-request-id', id)
        return response
      },
      {
        admin: true,
        body: PlaygroundBody,
        parse: boundedJson(deps, ADMIN_BODY_LIMIT),
        detail: { summary: 'One streamed chat completion as a client key (its policy applies; logged like its own requests)', tags: ['playground'] },
      },
    )
}
