import { findObjectValue } from '../lib/json-scan.ts'
import type { Protocol } from '../providers/types.ts'
import type { Json } from '../translate/common.ts'
import { messageToSse } from '../protocols/anthropic/replay.ts'
import { toAnthropicResponse } from '../translate/response-to-anthropic.ts'
import { toOpenAIResponse } from '../translate/response-to-openai.ts'
import { OpenAIToAnthropicStream } from '../translate/stream-to-anthropic.ts'
import { AnthropicToOpenAIStream } from '../translate/stream-to-openai.ts'
import type { Success } from './attempts.ts'
import { base64Embeddings } from './embeddings-format.ts'
import { GatewayError } from './errors.ts'
import { completionToSse } from '../protocols/openai-chat/chunks.ts'
import type { RequestTrace } from './record.ts'
import { relayStream, type Delivered } from './stream-relay.ts'
import { translateStream } from './stream-translate.ts'
import { anthropicUsageWatcher, openaiUsageWatcher, responsesUsageWatcher } from './stream-watchers.ts'
import { usageFromAnthropic, usageFromOpenAI, usageFromResponses } from './usage.ts'

/** What the response builders need to know about the request. */
export interface ReplyContext {
  client: Protocol
  /** The Responses API reports usage in its own shape. */
  responses: boolean
  trace: RequestTrace
  /** An OpenAI streaming client asked for the usage chunk itself. */
  wantsUsage: boolean
  /** For embeddings: the client wants base64 vectors. */
  wantsBase64: boolean
  heartbeatMs: number
  heartbeat: Uint8Array
  renderError(error: GatewayError): Uint8Array
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

const upstreamOf = (s: Success): Protocol => s.target.provider.adapter.protocol

function usageOf(s: Extract<Success, { kind: 'body' }>, responses = false) {
  const raw = findObjectValue(s.bytes, 'usage')
  const bound = s.usageBound
  return responses ? usageFromResponses(raw, bound) : upstreamOf(s) === 'anthropic' ? usageFromAnthropic(raw, bound) : usageFromOpenAI(raw, bound)
}

/** A whole upstream answer in the client's protocol, parsed only when it must be translated. */
function completeAnswer(s: Extract<Success, { kind: 'body' }>, client: Protocol): Json {
  const parsed = JSON.parse(decoder.decode(s.bytes))
  if (upstreamOf(s) === client) return parsed
  return client === 'anthropic' ? toAnthropicResponse(parsed) : toOpenAIResponse(parsed)
}

/** The response body for a client that did not ask for a stream. */
export function bodyReply(s: Success, ctx: ReplyContext): Uint8Array | string {
  const reply = buildBodyReply(s, ctx)
  if (ctx.trace.capture !== 'none') ctx.trace.responseBody = reply
  return reply
}

function buildBodyReply(s: Success, ctx: ReplyContext): Uint8Array | string {
  if (s.kind !== 'body') throw new Error('unreachable: a stream for a non-stream request')
  ctx.trace.record.usage = usageOf(s, ctx.responses)
  if (upstreamOf(s) !== ctx.client) {
    try {
      return JSON.stringify(completeAnswer(s, ctx.client))
    } catch {
      throw new GatewayError('upstream_error', `Provider ${s.target.provider.name} sent a response that is not JSON.`)
    }
  }
  if (ctx.wantsBase64) {
    try {
      const fixed = base64Embeddings(JSON.parse(decoder.decode(s.bytes)))
      if (fixed) return JSON.stringify(fixed)
    } catch {
      // not JSON: passed on as it came
    }
  }
  return s.bytes
}

/** The event stream for a streaming client, whatever the upstream sent. */
export function streamReply(s: Success, ctx: ReplyContext): ReadableStream<Uint8Array> {
  const stream = buildStreamReply(s, ctx)
  return ctx.trace.capture === 'all' ? tap(stream, ctx.trace) : stream
}

const CAPTURE_LIMIT = 64 * 1024

/** Keeps the first bytes of a stream for the request log (only when bodies are logged). */
function tap(stream: ReadableStream<Uint8Array>, trace: RequestTrace): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = []
  let size = 0
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (size < CAPTURE_LIMIT) {
          parts.push(chunk)
          size += chunk.byteLength
          trace.responseBody = Buffer.concat(parts)
        }
        controller.enqueue(chunk)
      },
    }),
  )
}

function buildStreamReply(s: Success, ctx: ReplyContext): ReadableStream<Uint8Array> {
  const { trace } = ctx
  const record = trace.record
  const onEnd = (outcome: 'ok' | 'error' | 'client_closed', delivered: Delivered, error?: GatewayError) =>
    trace.complete({ status: 200, outcome, delivered, ...(error ? { errorCode: error.code, errorMessage: error.message } : {}) })

  if (s.kind === 'stream') {
    const upstream = upstreamOf(s)
    if (upstream === ctx.client) {
      const onUsage = (usage: typeof record.usage) => (record.usage = usage)
      const bound = s.usageBound
      return relayStream(s.reader, s.first, {
        call: s.call,
        watch: ctx.responses
          ? responsesUsageWatcher(onUsage, bound)
          : upstream === 'openai' ? openaiUsageWatcher(!ctx.wantsUsage, onUsage, bound) : anthropicUsageWatcher(onUsage, bound),
        maxEventBytes: s.limits.max_event_bytes,
        heartbeatMs: ctx.heartbeatMs,
        heartbeat: ctx.heartbeat,
        renderError: ctx.renderError,
        onEnd,
      })
    }
    const translator = ctx.client === 'openai' ? new AnthropicToOpenAIStream(ctx.wantsUsage) : new OpenAIToAnthropicStream(s.target.upstreamModel)
    return translateStream(s.reader, s.first, {
      call: s.call,
      translator,
      maxEventBytes: s.limits.max_event_bytes,
      heartbeatMs: ctx.heartbeatMs,
      heartbeat: ctx.heartbeat,
      renderError: ctx.renderError,
      onEnd(outcome, delivered, error) {
        record.usage = usageFromOpenAI(translator.usage(), s.usageBound)
        onEnd(outcome, delivered, error)
      },
    })
  }

  // The upstream answered in one piece (fake_stream, or it ignored `stream`): replay it as events.
  record.usage = usageOf(s)
  let text: string
  try {
    const answer = completeAnswer(s, ctx.client)
    text = ctx.client === 'anthropic' ? messageToSse(answer) : decoder.decode(completionToSse(answer, ctx.wantsUsage))
  } catch {
    const error = new GatewayError('upstream_error', `Provider ${s.target.provider.name} sent a response that is not JSON.`)
    trace.complete({ status: 200, outcome: 'error', errorCode: error.code, errorMessage: error.message })
    return single(ctx.renderError(error))
  }
  const bytes = encoder.encode(text)
  trace.complete({ status: 200, outcome: 'ok', delivered: { events: 1, bytes: bytes.byteLength } })
  return single(bytes)
}

function single(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}
