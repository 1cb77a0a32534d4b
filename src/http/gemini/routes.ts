import { Elysia } from 'elysia'
import { GatewayError } from '../../gateway/errors.ts'
import type { Operation } from '../../protocols/types.ts'
import { encodeComment } from '../../lib/sse.ts'
import { clip } from '../../lib/clip.ts'
import { clientAuth } from '../client-auth.ts'
import type { Deps } from '../deps.ts'
import { proxyHandler } from '../proxy-route.ts'
import type { Traces } from '../traces.ts'
import { geminiStreamError } from './errors.ts'

const METHODS: Record<string, Operation> = {
  generateContent: 'generate_content',
  streamGenerateContent: 'generate_content',
  countTokens: 'gemini_count_tokens',
  embedContent: 'embed_content',
  batchEmbedContents: 'batch_embed_contents',
}

/** `{model}:{method}`: model ids may contain `/` and `:`, so the method is after the last `:`. */
function target(rest: string): { model: string; method: string } | null {
  let text: string
  try {
    text = decodeURIComponent(rest)
  } catch {
    return null
  }
  const at = text.lastIndexOf(':')
  if (at <= 0) return null
  return { model: text.slice(0, at).replace(/^models\//, ''), method: text.slice(at + 1) }
}

/** A model as Gemini's model list shows one. */
const modelObject = (id: string) => ({
  name: `models/${id}`,
  displayName: id,
  version: '1',
  supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'],
})

/**
 * Google's Gemini API: `v1beta` (Gemini CLI) and `v1` (the GenAI SDK's default) routes for
 * generateContent, streamGenerateContent (SSE with `alt=sse`, else one JSON array), countTokens,
 * embedContent, batchEmbedContents, and the model list in Gemini's shape.
 */
export const geminiRoutes = (deps: Deps, traces: Traces) => {
  const proxy = proxyHandler(deps, traces, { renderStreamError: geminiStreamError, heartbeat: encodeComment('ping'), passHeaders: [] })

  const call = ({ request, params, clientKey }: { request: Request; params: Record<string, string>; clientKey: any }) => {
    const t = target(params['*'] ?? '')
    const operation = t ? METHODS[t.method] : undefined
    if (!t || !operation) {
      throw new GatewayError('not_found', `Unknown method: POST ${clip(new URL(request.url).pathname, 120)}. Gemini routes are /v1beta/models/{model}:generateContent, :streamGenerateContent, :countTokens, :embedContent and :batchEmbedContents.`)
    }
    const streamed = t.method === 'streamGenerateContent'
    const sse = new URL(request.url).searchParams.get('alt') === 'sse'
    return proxy(operation, request, clientKey, {
      model: t.model,
      stream: streamed,
      ...(streamed && !sse ? { routeState: { array: true } } : {}),
      ...(operation === 'gemini_count_tokens' ? { estimate: (tokens: number) => ({ totalTokens: tokens }) } : {}),
    })
  }

  const list = ({ request, clientKey }: { request: Request; clientKey: any }) => {
    const models = deps.gateway.models().filter((m) => clientKey.allowsModel(m.id) || clientKey.allowsModel(`${m.provider}/${m.id}`))
    return traces.finish(request, Response.json({ models: models.map((m) => modelObject(m.id)) }))
  }
  const one = ({ request, params, clientKey }: { request: Request; params: Record<string, string>; clientKey: any }) => {
    let id = params['*'] ?? ''
    try {
      id = decodeURIComponent(id).replace(/^models\//, '')
    } catch {
      // shown as it came
    }
    const found = deps.gateway.models().find((m) => (m.id === id || `${m.provider}/${m.id}` === id) && (clientKey.allowsModel(m.id) || clientKey.allowsModel(`${m.provider}/${m.id}`)))
    if (!found) throw new GatewayError('model_not_found', `Model \`${clip(id, 64)}\` is not found. GET /v1beta/models lists the available models.`)
    return traces.finish(request, Response.json(modelObject(id)))
  }

  return new Elysia({ name: 'gemini-routes' })
    .use(clientAuth(deps, traces))
    .post('/v1beta/models/*', call, { clientKey: true, parse: 'none' })
    .post('/v1/models/*', call, { clientKey: true, parse: 'none' })
    .get('/v1beta/models', list, { clientKey: true })
    .get('/v1beta/models/*', one, { clientKey: true })
}
