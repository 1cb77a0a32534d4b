import { Elysia } from 'elysia'
import type { ClientKey } from '../../gateway/client-keys.ts'
import { GatewayError } from '../../gateway/errors.ts'
import type { Operation } from '../../providers/types.ts'
import { clientAuth } from '../client-auth.ts'
import type { Deps } from '../deps.ts'
import { readBody } from '../read-body.ts'
import type { Traces } from '../traces.ts'
import { openAIStreamError } from './errors.ts'

/** The OpenAI-compatible API: chat completions, embeddings, models. */
export const openaiRoutes = (deps: Deps, traces: Traces) => {
  const proxy = async (operation: Operation, request: Request, clientKey: ClientKey) => {
    const trace = traces.of(request)
    trace.record.clientKey = clientKey.name
    deps.keepOpen(request)
    const raw = await readBody(request, deps.config().server.max_body_bytes)
    const response = await deps.gateway.proxy({
      operation,
      clientKey,
      raw,
      trace,
      signal: request.signal,
      sessionId: request.headers.get('x-session-id'),
      renderStreamError: openAIStreamError,
    })
    return traces.finish(request, response)
  }

  const modelObject = (id: string, owner: string) => ({ id, object: 'model', created: 0, owned_by: owner })

  return new Elysia({ name: 'openai-routes' })
    .use(clientAuth(deps))
    .post('/v1/chat/completions', ({ request, clientKey }) => proxy('chat', request, clientKey), {
      clientKey: true,
      parse: 'none',
    })
    .post('/v1/embeddings', ({ request, clientKey }) => proxy('embeddings', request, clientKey), {
      clientKey: true,
      parse: 'none',
    })
    .get(
      '/v1/models',
      ({ request, clientKey }) =>
        traces.finish(
          request,
          Response.json({
            object: 'list',
            data: deps.gateway.models().filter((m) => clientKey.allowsModel(m.id)).map((m) => modelObject(m.id, m.provider)),
          }),
        ),
      { clientKey: true },
    )
    .get(
      '/v1/models/*',
      ({ request, params, clientKey }) => {
        const id = decodeURIComponent(params['*'])
        const found = deps.gateway.models().find((m) => m.id === id && clientKey.allowsModel(m.id))
        if (!found) {
          throw new GatewayError('model_not_found', `The model \`${id}\` does not exist. GET /v1/models lists the available models.`, {
            param: 'model',
          })
        }
        return traces.finish(request, Response.json(modelObject(found.id, found.provider)))
      },
      { clientKey: true },
    )
}
