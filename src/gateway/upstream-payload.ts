import type { Operation, Protocol, ProviderAdapter } from '../providers/types.ts'
import { TranslationError } from '../translate/common.ts'
import { toAnthropicRequest } from '../translate/request-to-anthropic.ts'
import { toOpenAIRequest } from '../translate/request-to-openai.ts'
import type { Mode } from './attempt.ts'
import { GatewayError } from './errors.ts'
import { upstreamBody, type JsonObject, type UpstreamShape } from './request-body.ts'

const SHAPES: Record<Mode, UpstreamShape> = {
  json: 'as_sent',
  stream: 'stream_with_usage',
  fake_stream: 'no_stream',
  aggregate: 'stream_with_usage',
}

/** The operation an upstream performs for a client's operation; null when it cannot. */
export function upstreamOperation(operation: Operation, adapter: ProviderAdapter): Operation | null {
  const chatLike = operation === 'chat' || operation === 'messages'
  const wanted: Operation = chatLike ? (adapter.protocol === 'anthropic' ? 'messages' : 'chat') : operation
  return adapter.operations.includes(wanted) ? wanted : null
}

export interface PayloadInput {
  operation: Operation
  client: Protocol
  upstream: Protocol
  raw: Uint8Array
  body: JsonObject
  upstreamModel: string
  mode: Mode
  defaultMaxTokens: number
  /** Told which fields had no equivalent in the upstream's protocol. */
  onDropped(fields: string[]): void
}

/**
 * The request body for one upstream. Same protocol: the client's bytes, touched only where the
 * model or the stream options must change. Other protocol: translated.
 */
export function buildPayload(p: PayloadInput): Uint8Array | string {
  if (p.operation === 'responses') {
    // Passed through as sent: the Responses API reports usage in its last event by itself.
    return p.body.model === p.upstreamModel ? p.raw : JSON.stringify({ ...p.body, model: p.upstreamModel })
  }
  if (p.client === p.upstream) {
    if (p.upstream === 'openai') return upstreamBody(p.raw, p.body, p.upstreamModel, SHAPES[p.mode])
    // Anthropic streams always carry usage: only the model and `stream` may need changing.
    const wantStream = p.mode === 'stream'
    if (p.body.model === p.upstreamModel && (p.body.stream === true) === wantStream) return p.raw
    const out: JsonObject = { ...p.body, model: p.upstreamModel }
    if (wantStream) out.stream = true
    else delete out.stream
    return JSON.stringify(out)
  }
  const streamed = p.mode === 'stream' || p.mode === 'aggregate'
  try {
    const { request, dropped } =
      p.upstream === 'anthropic'
        ? toAnthropicRequest({ ...p.body, model: p.upstreamModel, stream: streamed }, { defaultMaxTokens: p.defaultMaxTokens })
        : toOpenAIRequest({ ...p.body, model: p.upstreamModel, stream: streamed })
    if (dropped.length > 0) p.onDropped(dropped)
    return JSON.stringify(request)
  } catch (err) {
    if (err instanceof TranslationError) throw new GatewayError('invalid_request', err.message, { param: err.param })
    throw err
  }
}
