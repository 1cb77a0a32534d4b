import type { ByteReader } from '../lib/sse.ts'
import type { Operation } from '../providers/types.ts'
import type { Target } from './catalog.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { GatewayError } from './errors.ts'
import type { KeyState } from './key-pool.ts'
import { sseToCompletion } from './openai-chunks.ts'
import { ClientClosed, UpstreamCall } from './upstream-call.ts'
import { judgeTransportError, judgeUpstreamError, type Verdict } from './upstream-verdict.ts'

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
}

const MAX_ERROR_BODY = 64 * 1024
const encoder = new TextEncoder()

/**
 * One exchange with one upstream key, carried to the point where the answer can be committed to
 * the client: a stream's first bytes, or a whole JSON body. Until then every failure is retryable.
 */
export async function attempt(input: AttemptInput): Promise<AttemptResult> {
  const { target, key, mode } = input
  const provider = target.provider
  const request = provider.adapter.request(input.operation, {
    baseUrl: provider.config.base_url,
    key: key.key,
    headers: provider.config.headers,
    passHeaders: input.passHeaders,
  })
  const call = new UpstreamCall(provider.name, provider.config.timeouts, input.signal, input.connectWatch, provider.config.proxy)
  let response: Response
  try {
    response = await call.start(request.url, { method: 'POST', headers: request.headers, body: input.payload })
  } catch (err) {
    return transportFailure(err, null)
  }

  if (!response.ok) {
    let text = ''
    try {
      text = (await response.text()).slice(0, MAX_ERROR_BODY)
    } catch (err) {
      if (call.reason === 'client_closed') throw new ClientClosed()
    } finally {
      call.finish()
    }
    return { ok: false, headers: response.headers, verdict: judgeUpstreamError(provider.name, response.status, text, key.key, response.headers.get('retry-after')) }
  }

  const streamed = (response.headers.get('content-type') ?? '').includes('text/event-stream')
  if (mode === 'stream' && streamed && response.body) {
    const reader = response.body.getReader() as unknown as ByteReader
    try {
      const { done, value } = await reader.read()
      if (done) {
        call.finish()
        return { ok: false, headers: response.headers, verdict: judgeTransportError(new GatewayError('upstream_error', `Provider ${provider.name} sent an empty stream.`)) }
      }
      call.firstByte(true)
      return { ok: true, kind: 'stream', call, headers: response.headers, reader, first: value }
    } catch (err) {
      return transportFailure(err, response.headers)
    }
  }

  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await response.arrayBuffer())
    call.firstByte(false)
  } catch (err) {
    return transportFailure(err, response.headers)
  } finally {
    call.finish()
  }
  let contentType = response.headers.get('content-type') ?? 'application/json'
  if (mode === 'aggregate' && streamed) {
    try {
      bytes = encoder.encode(JSON.stringify(sseToCompletion(bytes)))
      contentType = 'application/json'
    } catch (err) {
      const message = (err as Error).message
      return { ok: false, headers: response.headers, verdict: judgeTransportError(new GatewayError('upstream_error', `Provider ${provider.name}: ${message}`)) }
    }
  }
  return { ok: true, kind: 'body', call, headers: response.headers, status: response.status, contentType, bytes }

  function transportFailure(err: unknown, headers: Headers | null): AttemptResult {
    const failure = call.failure(err)
    call.finish()
    if (failure instanceof ClientClosed) throw failure
    const error = failure instanceof GatewayError ? failure : new GatewayError('upstream_error', `Provider ${provider.name} failed.`)
    return { ok: false, headers, verdict: judgeTransportError(error) }
  }
}
