import type { ByteReader } from '../../lib/sse.ts'
import { GatewayError } from '../errors.ts'
import { ClientClosed, type UpstreamCall } from '../upstream/upstream-call.ts'

/** How much of a stream reached the client. */
export interface Delivered {
  events: number
  bytes: number
}

export type Outcome = 'ok' | 'error' | 'client_closed'

/** Sends bytes to the client as `events` events (for the delivered count). */
export type Send = (bytes: Uint8Array, events?: number) => void

export interface PumpOptions {
  call: UpstreamCall
  /** A keep-alive event is sent when nothing was sent for this long (0: never). */
  heartbeatMs: number
  heartbeat: Uint8Array
  /** Whether a heartbeat may go out now (not in the middle of a relayed event). */
  mayBeat(): boolean
  /** Handles one upstream chunk; returns whether anything was sent. Throws a GatewayError to end the stream as failed. */
  onChunk(chunk: Uint8Array, send: Send): boolean
  /** The upstream ended: send what is left; an error here ends the request as failed. */
  onDone(send: Send): GatewayError | undefined
  renderError(error: GatewayError): Uint8Array
  onEnd(outcome: Outcome, delivered: Delivered, error?: GatewayError): void
}

/** What every client stream needs from its caller, whatever it does to the events. */
export type StreamEnds = Pick<PumpOptions, 'call' | 'heartbeatMs' | 'heartbeat' | 'renderError' | 'onEnd'>

/**
 * The client side of an upstream stream: reads the upstream as the client pulls, so nothing is
 * buffered beyond one chunk; keeps a quiet stream alive; turns a failure midway into the client
 * protocol's error event; and aborts the upstream the moment the client leaves, or once it has not
 * asked for more for the stream silence limit (it stopped reading).
 */
export function pumpUpstream(reader: ByteReader, first: Uint8Array | null, options: PumpOptions): ReadableStream<Uint8Array> {
  const { call } = options
  const delivered: Delivered = { events: 0, bytes: 0 }
  let pendingFirst = first
  let ended = false
  let sentSinceTick = true
  let heartbeat: ReturnType<typeof setInterval> | null = null
  // Called before the client stream closes: what runs when the request is over (the server's idle
  // timeout put back on the connection) only takes effect while the response is still open.
  const end = (outcome: Outcome, error?: GatewayError) => {
    if (ended) return
    ended = true
    if (heartbeat) clearInterval(heartbeat)
    call.finish()
    options.onEnd(outcome, delivered, error)
  }

  // One sender per stream, not one per pull.
  let send: Send = () => {}

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        call.onAbort = (reason) => {
          if (reason !== 'client_stalled' || ended) return
          const error = call.clientStalled()
          reader.cancel().catch(() => {})
          // Read only if the client ever resumes; the upstream is let go either way.
          controller.enqueue(options.renderError(error))
          end('client_closed', error)
          controller.close()
        }
        send = (bytes, events = 1) => {
          controller.enqueue(bytes)
          delivered.events += events
          delivered.bytes += bytes.byteLength
          sentSinceTick = true
        }
        if (options.heartbeatMs <= 0) return
        heartbeat = setInterval(() => {
          if (!sentSinceTick && !ended && options.mayBeat()) controller.enqueue(options.heartbeat)
          sentSinceTick = false
        }, options.heartbeatMs)
      },
      async pull(controller) {
        try {
          for (;;) {
            let value: Uint8Array
            if (pendingFirst) {
              value = pendingFirst
              pendingFirst = null
            } else {
              call.reading()
              const read = await reader.read()
              if (read.done) {
                const error = options.onDone(send)
                end(error ? 'error' : 'ok', error)
                controller.close()
                return
              }
              value = read.value
              call.touch()
            }
            if (options.onChunk(value, send)) return
          }
        } catch (err) {
          if (ended) return
          // A GatewayError comes from handling the stream (an oversized event); anything else from reading it.
          const failure = err instanceof GatewayError ? err : call.failure(err)
          reader.cancel().catch(() => {})
          if (failure instanceof ClientClosed) {
            end('client_closed')
            return
          }
          const error = failure instanceof GatewayError ? failure : new GatewayError('upstream_error', 'The upstream stream failed.')
          const midway = new GatewayError(error.code, `${error.message} The stream was interrupted.`, error.details)
          controller.enqueue(options.renderError(midway))
          end('error', midway)
          controller.close()
        }
      },
      cancel() {
        call.abort('client_closed')
        reader.cancel().catch(() => {})
        end('client_closed')
      },
    },
    { highWaterMark: 0 },
  )
}
