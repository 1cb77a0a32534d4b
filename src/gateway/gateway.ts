import type { Logger } from '../observability/logger.ts'
import type { Operation } from '../providers/types.ts'
import { findObjectValue } from '../lib/json-scan.ts'
import type { ModelCatalog, ModelEntry, ProviderRuntime } from './catalog.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { base64Embeddings } from './embeddings-format.ts'
import { GatewayError } from './errors.ts'
import type { RequestTrace } from './record.ts'
import { checkRequest, clientWantsUsage, parseJsonObject, upstreamBody, type JsonObject } from './request-body.ts'
import { relayStream } from './stream-relay.ts'
import { UpstreamCall } from './upstream-call.ts'
import { upstreamFailure } from './upstream-errors.ts'
import { usageFromOpenAI } from './usage.ts'

export interface ProxyInput {
  operation: Operation
  /** The request body exactly as the client sent it. */
  raw: Uint8Array
  trace: RequestTrace
  /** Aborts when the client disconnects. */
  signal: AbortSignal
  /** The client protocol's mid-stream error event. */
  renderStreamError(error: GatewayError): Uint8Array
}

export interface ProviderHealth {
  name: string
  type: string
  keys: { total: number; usable: number }
  models: number | null
}

export interface Gateway {
  proxy(input: ProxyInput): Promise<Response>
  models(): ModelEntry[]
  providers(): ProviderHealth[]
}

export interface GatewayDeps {
  catalog: ModelCatalog
  connectWatch: ConnectWatch
  logger: Logger
  now: () => number
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

const MAX_ERROR_BODY = 64 * 1024

/** The request pipeline: validate, route, call the upstream, relay the answer, record usage. */
export function createGateway(deps: GatewayDeps): Gateway {
  const { catalog } = deps

  async function proxy(input: ProxyInput): Promise<Response> {
    const { operation, raw, trace } = input
    const record = trace.record
    const body = parseJsonObject(raw)
    const { model, stream } = checkRequest(body, operation)
    const streaming = operation === 'chat' && stream
    record.model = model
    record.stream = streaming

    const resolved = await catalog.resolve(model)
    if (!resolved) {
      throw new GatewayError(
        'model_not_found',
        `The model \`${model}\` does not exist or is not served by this gateway. GET /v1/models lists the available models.`,
        { param: 'model' },
      )
    }
    const { provider, upstreamModel } = resolved
    record.provider = provider.name
    record.upstreamModel = upstreamModel

    // Streams always ask for usage, the only way to count their tokens; the extra chunk is
    // removed again for clients that did not ask for it.
    const askUsage = streaming && !clientWantsUsage(body)
    const payload = upstreamBody(raw, body, upstreamModel, askUsage)
    const key = provider.pool.take()
    const target = { baseUrl: provider.config.base_url, key, headers: provider.config.headers }
    const request = provider.adapter.request(operation, target)
    const call = new UpstreamCall(provider.name, provider.config.timeouts, input.signal, deps.connectWatch)
    const response = await call.start(request.url, { method: 'POST', headers: request.headers, body: payload })
    const diagnostics = { 'x-sluice-provider': provider.name, 'x-sluice-model': `${provider.name}/${upstreamModel}` }

    if (!response.ok) {
      const text = await readLimited(response, call)
      call.finish()
      throw upstreamFailure(provider.name, response.status, text, key, response.headers.get('retry-after'))
    }

    if (streaming && isEventStream(response) && response.body) {
      trace.deferred = true
      const relayed = relayStream(response.body, {
        call,
        stripUsageChunk: askUsage,
        onFirstByte: () => (record.ttfbMs = deps.now() - record.startedAt),
        onUsage: (usage) => (record.usage = usage),
        renderError: input.renderStreamError,
        onEnd: (outcome, error) =>
          trace.complete({
            status: 200,
            outcome,
            ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
          }),
      })
      return new Response(relayed, { status: 200, headers: { ...SSE_HEADERS, ...diagnostics } })
    }

    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await response.arrayBuffer())
    } catch (err) {
      throw call.failure(err)
    } finally {
      call.finish()
    }
    record.ttfbMs = deps.now() - record.startedAt
    record.usage = usageFromOpenAI(findObjectValue(bytes, 'usage'))
    const contentType = response.headers.get('content-type') ?? 'application/json'
    if (operation === 'embeddings' && body.encoding_format === 'base64') {
      const fixed = reencodeEmbeddings(bytes)
      if (fixed) return new Response(fixed, { status: response.status, headers: { 'content-type': contentType, ...diagnostics } })
    }
    return new Response(bytes, { status: response.status, headers: { 'content-type': contentType, ...diagnostics } })
  }

  return {
    proxy,
    models: () => catalog.list(),
    providers: () => catalog.providers.map(health),
  }
}

function health(p: ProviderRuntime): ProviderHealth {
  return {
    name: p.name,
    type: p.config.type,
    keys: { total: p.pool.keys.length, usable: p.pool.usable },
    models: p.models ? p.models.length : null,
  }
}

function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').includes('text/event-stream')
}

function reencodeEmbeddings(bytes: Uint8Array): string | null {
  try {
    const fixed = base64Embeddings(JSON.parse(new TextDecoder().decode(bytes)) as JsonObject)
    return fixed ? JSON.stringify(fixed) : null
  } catch {
    return null
  }
}

async function readLimited(response: Response, call: UpstreamCall): Promise<string> {
  try {
    const text = await response.text()
    return text.length > MAX_ERROR_BODY ? text.slice(0, MAX_ERROR_BODY) : text
  } catch (err) {
    const failure = call.failure(err)
    if (failure instanceof GatewayError) return ''
    throw failure
  }
}
