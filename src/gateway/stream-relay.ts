import { SseFramer, type ByteReader } from '../lib/sse.ts'
import { GatewayError } from './errors.ts'
import { ClientClosed, type UpstreamCall } from './upstream-call.ts'

/** Looks at each whole event of a passthrough stream; false drops it. */
export type EventWatcher = ((event: Uint8Array) => boolean) & {
  /** Whether a chunk may hold an event the watcher must see; false lets it pass unframed. */
  mayNeed?(chunk: Uint8Array): boolean
}

export interface RelayOptions {
  call: UpstreamCall
  /** Sees every event: records usage, drops the usage chunk the gateway asked for itself. */
  watch: EventWatcher
  /** A keep-alive event is sent when the upstream has been silent this long (0: never). */
  heartbeatMs: number
  /** The client protocol's keep-alive event. */
  heartbeat: Uint8Array
  onEnd(outcome: 'ok' | 'error' | 'client_closed', delivered: Delivered, error?: GatewayError): void
  /** The protocol's error event, sent when the stream fails midway. */
  renderError(error: GatewayError): Uint8Array
}

/** How much of a stream reached the client. */
export interface Delivered {
  events: number
  bytes: number
}


/**
 * Passes an SSE stream through event by event, untouched, as each arrives. The watcher parses only
 * the few events that carry usage; everything else is forwarded as raw bytes.
 */
export function relayStream(
  reader: ByteReader,
  first: Uint8Array | null,
  options: RelayOptions,
): ReadableStream<Uint8Array> {
  const { call } = options
  const framer = new SseFramer()
  let pendingFirst = first
  let ended = false
  let sentSinceTick = true
  let heartbeat: ReturnType<typeof setInterval> | null = null
  const delivered: Delivered = { events: 0, bytes: 0 }
  const end = (outcome: 'ok' | 'error' | 'client_closed', error?: GatewayError) => {
    if (ended) return
    ended = true
    if (heartbeat) clearInterval(heartbeat)
    call.finish()
    options.onEnd(outcome, delivered, error)
  }

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (options.heartbeatMs <= 0) return
        heartbeat = setInterval(() => {
          // Only between whole events: a comment inside a half-received event would corrupt it.
          if (!sentSinceTick && !framer.hasPending() && !ended) controller.enqueue(options.heartbeat)
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
              const read = await reader.read()
              if (read.done) {
                const rest = framer.rest()
                if (rest) controller.enqueue(rest)
                controller.close()
                end('ok')
                return
              }
              value = read.value
              call.touch()
            }
            // Fast path: whole events that the watcher has no use for go out as they came.
            if (!framer.hasPending() && endsEvent(value) && options.watch.mayNeed?.(value) === false) {
              controller.enqueue(value)
              delivered.events += countEvents(value)
              delivered.bytes += value.byteLength
              sentSinceTick = true
              return
            }
            let forwarded = 0
            for (const event of framer.push(value)) {
              if (!options.watch(event)) continue
              controller.enqueue(event)
              forwarded++
              delivered.bytes += event.byteLength
            }
            if (forwarded > 0) {
              delivered.events += forwarded
              sentSinceTick = true
              return
            }
          }
        } catch (err) {
          const failure = call.failure(err)
          if (failure instanceof ClientClosed) {
            end('client_closed')
            return
          }
          const error = failure instanceof GatewayError ? failure : new GatewayError('upstream_error', 'The upstream stream failed.')
          const midway = new GatewayError(error.code, `${error.message} The stream was interrupted.`, error.details)
          controller.enqueue(options.renderError(midway))
          controller.close()
          end('error', midway)
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


/** Whether a chunk ends exactly at an event boundary (a blank line). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length
  return n >= 2 && chunk[n - 1] === 10 && (chunk[n - 2] === 10 || (chunk[n - 2] === 13 && chunk[n - 3] === 10))
}

const BLANK_LINE = Buffer.from('\n\n')

function countEvents(chunk: Uint8Array): number {
  const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  let n = 0
  for (let at = buf.indexOf(BLANK_LINE); at >= 0; at = buf.indexOf(BLANK_LINE, at + 2)) n++
  return Math.max(1, n)
}
