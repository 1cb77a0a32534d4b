import { findObjectValue } from '../lib/json-scan.ts'
import type * as ir from '../protocols/ir.ts'
import { answerAsStream, StreamTranslation, translateResponse } from '../protocols/translate.ts'
import type { EmbeddingBridge } from '../protocols/embeddings.ts'
import type { ReplyOptions, WireProtocol } from '../protocols/types.ts'
import type { Success } from './upstream/attempts.ts'
import { base64Embeddings } from './embeddings-format.ts'
import { GatewayError } from './errors.ts'
import type { RequestTrace } from './record.ts'
import { relayStream, type Delivered } from './streams/stream-relay.ts'
import { translateStream } from './streams/stream-translate.ts'
import { boundedCount, metered, type Usage } from './usage.ts'

/** What the response builders need to know about the request. */
export interface ReplyContext {
  /** The client's protocol; null for operations outside the hub (embeddings, token counting). */
  client: WireProtocol | null
  /** The protocol the upstream that answered was spoken to in. */
  upstreamOf(s: Success): WireProtocol | null
  /** How usage is read from an answer outside the hub. */
  plainUsage: WireProtocol['usage'] | null
  /** For embeddings served by a provider of the other embeddings API: how its answer is translated back. */
  bridge(s: Success): EmbeddingBridge | null
  reply(s: Success): ReplyOptions
  trace: RequestTrace
  /** For embeddings: the client wants base64 vectors. */
  wantsBase64: boolean
  heartbeatMs: number
  heartbeat: Uint8Array
  renderError(error: GatewayError): Uint8Array
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

function usageOf(s: Extract<Success, { kind: 'body' }>, ctx: ReplyContext): Usage | undefined {
  const wire = ctx.upstreamOf(s)
  const read = wire?.usage ?? ctx.plainUsage
  if (!read) return undefined
  return metered(read(findObjectValue(s.bytes, wire?.usageKey ?? 'usage'), boundedCount(s.usageBound)))
}

const notJson = (s: Success) => new GatewayError('upstream_error', `Provider ${s.target.provider.name} sent a response that is not JSON.`)

/** The response body for a client that did not ask for a stream. */
export function bodyReply(s: Success, ctx: ReplyContext): Uint8Array | string {
  const reply = buildBodyReply(s, ctx)
  if (ctx.trace.capture !== 'none') ctx.trace.responseBody = reply
  return reply
}

/** Whether the answer goes to the client as the upstream's own bytes. */
export function passedThrough(s: Success, ctx: ReplyContext): boolean {
  return ctx.client === null || ctx.upstreamOf(s) === ctx.client
}

function buildBodyReply(s: Success, ctx: ReplyContext): Uint8Array | string {
  if (s.kind !== 'body') throw new Error('unreachable: a stream for a non-stream request')
  ctx.trace.record.usage = usageOf(s, ctx)
  const upstream = ctx.upstreamOf(s)
  if (ctx.client && upstream && upstream !== ctx.client) {
    let parsed: ir.Json
    try {
      parsed = JSON.parse(decoder.decode(s.bytes))
    } catch {
      throw notJson(s)
    }
    return JSON.stringify(translateResponse(upstream, ctx.client, parsed, { provider: s.target.provider.name }, ctx.reply(s)))
  }
  const bridge = ctx.bridge(s)
  if (bridge) {
    try {
      const answer = bridge.response(JSON.parse(decoder.decode(s.bytes)), s.target.label)
      return JSON.stringify(ctx.wantsBase64 ? (base64Embeddings(answer) ?? answer) : answer)
    } catch {
      throw notJson(s)
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
  const client = ctx.client!
  const upstream = ctx.upstreamOf(s)!
  const onEnd = (outcome: 'ok' | 'error' | 'client_closed', delivered: Delivered, error?: GatewayError) =>
    trace.complete({ status: 200, outcome, delivered, ...(error ? { errorCode: error.code, errorMessage: error.message } : {}) })
  const streamOptions = { call: s.call, maxEventBytes: s.limits.max_event_bytes, heartbeatMs: ctx.heartbeatMs, heartbeat: ctx.heartbeat, renderError: ctx.renderError }

  if (s.kind === 'stream') {
    if (upstream === client && (client.relays?.(ctx.reply(s).state) ?? true)) {
      const onUsage = (usage: ir.Usage) => (record.usage = metered(usage))
      return relayStream(s.reader, s.first, { ...streamOptions, watch: client.usageWatcher(ctx.reply(s).state, onUsage, boundedCount(s.usageBound)), onEnd })
    }
    const provider = s.target.provider.name
    const translator = new StreamTranslation(upstream.stream.decoder({ provider }), client.stream.encoder(ctx.reply(s)))
    return translateStream(s.reader, s.first, {
      ...streamOptions,
      translator,
      onEnd(outcome, delivered, error) {
        record.usage = metered(translator.usage(), s.usageBound)
        onEnd(outcome, delivered, error)
      },
    })
  }

  // The upstream answered in one piece (fake_stream, or it ignored `stream`): replay it as events.
  record.usage = usageOf(s, ctx)
  let text: string
  try {
    const answer = JSON.parse(decoder.decode(s.bytes))
    text = answerAsStream(upstream, client, answer, { provider: s.target.provider.name }, ctx.reply(s))
  } catch {
    const error = notJson(s)
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
