import { Elysia } from 'elysia'
import { GatewayError } from '../../gateway/errors.ts'
import { clientAuth } from '../client-auth.ts'
import type { Deps } from '../deps.ts'
import { proxyHandler } from '../proxy-route.ts'
import { encodeComment } from '../../lib/sse.ts'
import type { Traces } from '../traces.ts'
import { openAIStreamError, responsesStreamError } from './errors.ts'
import { clip } from '../../lib/clip.ts'

/** A path segment's text, or null when its percent-encoding is broken (`%`, `%E0%A4%A`). */
function decodedId(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}

/** Another key's response is not found either: ids never tell whether they exist. */
function responseNotFound(id: string): GatewayError {
  return new GatewayError('not_found', `Response with id '${clip(id, 80)}' not found.`, { param: 'response_id' })
}

function websocketRefused(): Response {
  const error = { message: 'This gateway serves the Responses API over HTTP (POST /v1/responses with stream: true), not over WebSocket.', type: 'invalid_request_error', param: null, code: 'websocket_not_supported' }
  return Response.json({ error }, { status: 426, headers: { upgrade: 'websocket', connection: 'close' } })
}

/** The OpenAI-compatible API: chat completions, embeddings, models. */
export const openaiRoutes = (deps: Deps, traces: Traces) => {
  const proxy = proxyHandler(deps, traces, { renderStreamError: openAIStreamError, heartbeat: encodeComment('ping'), passHeaders: [] })
  const responsesProxy = proxyHandler(deps, traces, { renderStreamError: responsesStreamError, heartbeat: encodeComment('ping'), passHeaders: [] })

  const modelObject = (id: string, owner: string) => ({ id, object: 'model', created: 0, owned_by: owner })

  return new Elysia({ name: 'openai-routes' })
    .use(clientAuth(deps, traces))
    .post('/v1/chat/completions', ({ request, clientKey }) => proxy('chat', request, clientKey), {
      clientKey: true,
      parse: 'none',
    })
    .post('/v1/embeddings', ({ request, clientKey }) => proxy('embeddings', request, clientKey), {
      clientKey: true,
      parse: 'none',
    })
    .post('/v1/responses', ({ request, clientKey }) => responsesProxy('responses', request, clientKey), {
      clientKey: true,
      parse: 'none',
    })
    // Codex tries a Responses WebSocket first; 426 makes it switch the whole session to HTTP at once.
    .get('/v1/responses', ({ request }) => traces.finish(request, websocketRefused()), { clientKey: true })
    .get(
      '/v1/responses/:id',
      async ({ request, params, clientKey }) => {
        const kept = await deps.responses.get(params.id, clientKey.id)
        if (!kept) throw responseNotFound(params.id)
        return traces.finish(request, Response.json(kept.response))
      },
      { clientKey: true },
    )
    .delete(
      '/v1/responses/:id',
      async ({ request, params, clientKey }) => {
        if (!(await deps.responses.delete(params.id, clientKey.id))) throw responseNotFound(params.id)
        return traces.finish(request, Response.json({ id: params.id, object: 'response', deleted: true }))
      },
      { clientKey: true },
    )
    .get(
      '/v1/models',
      ({ request, clientKey }) => {
        const models = deps.gateway.models().filter((m) => clientKey.allowsModel(m.id) || clientKey.allowsModel(`${m.provider}/${m.id}`))
        // Same path, two shapes: the Anthropic SDK always sends anthropic-version.
        const body = request.headers.has('anthropic-version')
          ? {
              data: models.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: '1970-01-01T00:00:00Z' })),
              has_more: false,
              first_id: models[0]?.id ?? null,
              last_id: models.at(-1)?.id ?? null,
            }
          : { object: 'list', data: models.map((m) => modelObject(m.id, m.provider)) }
        return traces.finish(request, Response.json(body))
      },
      { clientKey: true },
    )
    .get(
      '/v1/models/*',
      ({ request, params, clientKey }) => {
        const id = decodedId(params['*'])
        const found = id === null ? undefined : deps.gateway.models().find((m) => (m.id === id || `${m.provider}/${m.id}` === id) && (clientKey.allowsModel(m.id) || clientKey.allowsModel(`${m.provider}/${m.id}`)))
        if (!found) {
          const shown = clip(id ?? params['*'], 64)
          throw new GatewayError('model_not_found', `The model \`${shown}\` does not exist. GET /v1/models lists the available models.`, {
            param: 'model',
          })
        }
        return traces.finish(request, Response.json(modelObject(id!, found.provider)))
      },
      { clientKey: true },
    )
}
