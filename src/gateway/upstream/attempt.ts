import type { UpstreamLimits } from '../../config/schema.ts'
import { declaredOver, declaredWithin, readBounded } from '../../lib/bounded-read.ts'
import { joinChunks } from '../../lib/bytes.ts'
import { SseFramer, type ByteReader } from '../../lib/sse.ts'
import type { Logger } from '../../observability/logger.ts'
import type { Operation } from '../../providers/types.ts'
import type { Target } from '../routing/catalog.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { GatewayError } from '../errors.ts'
import type { KeyState } from '../routing/key-pool.ts'
import { eventTooLarge } from '../streams/stream-relay.ts'
import { ClientClosed, UpstreamCall } from './upstream-call.ts'
import { judgeRedirect, judgeTransportError, judgeUpstreamError, type Verdict } from './upstream-verdict.ts'

/**
 * How one attempt talks to the upstream. `stream`: a passthrough stream; `json`: one response;
 * `fake_stream`: the client wants a stream but the upstream is asked for JSON; `aggregate`: the
 * client wants JSON from an upstream that only streams.
 */
export type Mode = 'json' | 'stream' | 'fake_stream' | 'aggregate'

export type AttemptResult =
  | { ok: true; kind: 'stream'; call: UpstreamCall; headers: Headers; reader: ByteReader; first: Uint8Array }
  | { ok: true; kind: 'body'; call: UpstreamCall; headers: Headers; status: number; contentType: string; bytes: Uint8Array }
  | { ok: false; verdict: Verdict; headers: Headers | null }

export interface AttemptInput {
  operation: Operation
  passHeaders: Record<string, string>
  target: Target
  key: KeyState
  mode: Mode
  payload: Uint8Array | string
  signal: AbortSignal
  connectWatch: ConnectWatch
  limits: UpstreamLimits
  logger: Logger
  /** For `aggregate`: folds the upstream's whole event stream into one answer. */
  collect?: (bytes: Uint8Array) => Record<string, unknown>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const EMPTY = new Uint8Array(0)

/**
 * One exchange with one upstream key, carried to the point where the answer can be committed to
 * the client: a stream's first whole event, or a whole JSON body. Until then every failure is
 * retryable. Every body is read through a bound (after decompression), and a redirect is a failure.
 */
export async function attempt(input: AttemptInput): Promise<AttemptResult> {
  const { target, key, mode, limits } = input
  const provider = target.provider
  const stream = mode === 'stream' || mode === 'aggregate'
  const call = new UpstreamCall(provider.name, provider.config.timeouts, input.signal, input.connectWatch, provider.config.proxy)
  let response: Response
  try {
    const exchange = provider.adapter.exchange
    if (exchange) {
      const exchangeInput = { operation: input.operation, key: key.key, model: target.upstreamModel, stream, payload: input.payload, passHeaders: input.passHeaders }
      response = await call.startExchange((signal) => exchange(exchangeInput, signal))
    } else {
      const request = provider.adapter.request(input.operation, {
        baseUrl: provider.config.base_url,
        key: key.key,
        headers: provider.config.headers,
        passHeaders: input.passHeaders,
        model: target.upstreamModel,
        stream,
      })
      response = await call.start(request.url, { method: 'POST', headers: request.headers, body: input.payload })
    }
  } catch (err) {
    return transportFailure(err, null)
  }
  const { status, headers } = response

  if (status >= 300 && status < 400) {
    response.body?.cancel().catch(() => {})
    call.finish()
    input.logger.warn({ provider: provider.name, status, location: headers.get('location') }, 'upstream answered with a redirect; not followed')
    return { ok: false, headers, verdict: judgeRedirect(provider.name, status) }
  }

  if (!response.ok) {
    let text = ''
    try {
      const body = response.body ? await readBounded(response.body.getReader() as unknown as ByteReader, limits.max_error_bytes, true) : null
      if (body) text = decoder.decode(body.bytes)
    } catch {
      if (call.reason === 'client_closed') throw new ClientClosed()
    } finally {
      call.finish()
    }
    return { ok: false, headers, verdict: judgeUpstreamError(provider.name, status, text, key.key, headers.get('retry-after') ?? retryAfterIn(provider.adapter, text), provider.adapter.deadKey) }
  }

  const streamed = (headers.get('content-type') ?? '').includes('text/event-stream')
  if (mode === 'stream' && streamed && response.body) {
    const reader = response.body.getReader() as unknown as ByteReader
    try {
      const first = await firstEvent(reader, call, limits.max_event_bytes)
      if (first === 'too_large') {
        reader.cancel().catch(() => {})
        return failure(eventTooLarge(provider.name, limits.max_event_bytes))
      }
      if (first === null) return failure(new GatewayError('upstream_error', `Provider ${provider.name} sent an empty stream.`))
      return { ok: true, kind: 'stream', call, headers, reader, first }
    } catch (err) {
      return transportFailure(err, headers)
    }
  }

  const tooLarge = () => new GatewayError('upstream_error', `Provider ${provider.name} sent a response larger than ${limits.max_body_bytes} bytes.`)
  if (declaredOver(headers, limits.max_body_bytes)) {
    response.body?.cancel().catch(() => {})
    return failure(tooLarge())
  }
  let bytes: Uint8Array
  try {
    const body = !response.body ? null
      // A plain body of a declared length within the limit cannot grow past it: one native read.
      : declaredWithin(headers, limits.max_body_bytes) ? { complete: true, bytes: new Uint8Array(await response.arrayBuffer()) }
      : await readBounded(response.body.getReader() as unknown as ByteReader, limits.max_body_bytes)
    call.firstByte(false)
    if (body && !body.complete) return failure(tooLarge())
    bytes = body ? body.bytes : EMPTY
  } catch (err) {
    return transportFailure(err, headers)
  } finally {
    call.finish()
  }
  let contentType = headers.get('content-type') ?? 'application/json'
  if (mode === 'aggregate' && streamed && input.collect) {
    try {
      bytes = encoder.encode(JSON.stringify(input.collect(bytes)))
      contentType = 'application/json'
    } catch (err) {
      const message = (err as Error).message
      return failure(new GatewayError('upstream_error', `Provider ${provider.name}: ${message}`))
    }
  }
  // An HTML error page or a proxy's notice with status 200 is not an answer; a JSON object begins with `{`.
  if (!startsWithObject(bytes)) {
    return failure(new GatewayError('upstream_error', `Provider ${provider.name} answered with something that is not JSON (${contentType}).`))
  }
  return { ok: true, kind: 'body', call, headers, status, contentType, bytes }

  function failure(error: GatewayError): AttemptResult {
    call.finish()
    return { ok: false, headers, verdict: judgeTransportError(error) }
  }

  function transportFailure(err: unknown, headers: Headers | null): AttemptResult {
    const failure = call.failure(err)
    call.finish()
    if (failure instanceof ClientClosed) throw failure
    const error = failure instanceof GatewayError ? failure : new GatewayError('upstream_error', `Provider ${provider.name} failed.`)
    return { ok: false, headers, verdict: judgeTransportError(error) }
  }
}

/**
 * Reads a stream up to the end of its first event: the bytes read (the first event and whatever
 * followed it in the same chunk), null for a stream that ended empty, or 'too_large' when the
 * first event grows past the limit.
 */
async function firstEvent(reader: ByteReader, call: UpstreamCall, limit: number): Promise<Uint8Array | null | 'too_large'> {
  const framer = new SseFramer(limit)
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    if (parts.length > 0) call.reading()
    const { done, value } = await reader.read()
    if (done) return size > 0 ? joinChunks(parts, size) : null
    if (parts.length === 0) call.firstByte(true)
    else call.touch()
    parts.push(value)
    size += value.byteLength
    if (framer.push(value).length > 0) return joinChunks(parts, size)
    if (framer.oversized()) return 'too_large'
  }
}

function retryAfterIn(adapter: Target['provider']['adapter'], text: string): string | null {
  const seconds = adapter.retryAfter?.(text)
  return seconds === null || seconds === undefined ? null : String(seconds)
}

/** Whether the first byte that is not white space is `{`. */
function startsWithObject(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (b === 123) return true
    if (b !== 32 && b !== 10 && b !== 13 && b !== 9) return false
  }
  return false
}
