import { encodeComment, eventData, SseFramer, type ByteReader } from '../lib/sse.ts'
import { GatewayError } from './errors.ts'
import { ClientClosed, type UpstreamCall } from './upstream-call.ts'
import { usageFromOpenAI, type Usage } from './usage.ts'

export interface RelayOptions {
  call: UpstreamCall
  /** Drop the usage-only chunk the gateway asked for on the client's behalf. */
  stripUsageChunk: boolean
  /** A comment is sent when the upstream has been silent this long (0: never). */
  heartbeatMs: number
  onUsage(usage: Usage): void
  onEnd(outcome: 'ok' | 'error' | 'client_closed', delivered: Delivered, error?: GatewayError): void
  /** The protocol's error event, sent when the stream fails midway. */
  renderError(error: GatewayError): Uint8Array
}

/** How much of a stream reached the client. */
export interface Delivered {
  events: number
  bytes: number
}

const USAGE_KEY = Buffer.from('"usage"')
const PING = encodeComment('ping')

/**
 * Passes an OpenAI-style SSE stream through event by event, untouched, as each arrives. Only an
 * event that carries a usage object is parsed; everything else is forwarded as raw bytes.
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
          if (!sentSinceTick && !framer.hasPending() && !ended) controller.enqueue(PING)
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
            let forwarded = 0
            for (const event of framer.push(value)) {
              if (carriesUsage(event) && !acceptUsageEvent(event, options)) continue
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

/** Whether an event's bytes contain a `"usage": {` key (not `"usage": null`). */
function carriesUsage(event: Uint8Array): boolean {
  const buf = Buffer.from(event.buffer, event.byteOffset, event.byteLength)
  for (let at = buf.indexOf(USAGE_KEY); at >= 0; at = buf.indexOf(USAGE_KEY, at + 1)) {
    let i = at + USAGE_KEY.length
    while (buf[i] === 32) i++
    if (buf[i] !== 58) continue
    i++
    while (buf[i] === 32) i++
    if (buf[i] === 123) return true
  }
  return false
}

/** Records the usage; returns false when the event must not reach the client. */
function acceptUsageEvent(event: Uint8Array, options: RelayOptions): boolean {
  const data = eventData(event)
  if (data === null) return true
  let chunk: { usage?: unknown; choices?: unknown[] }
  try {
    chunk = JSON.parse(data)
  } catch {
    return true
  }
  const usage = usageFromOpenAI(chunk.usage)
  if (usage) options.onUsage(usage)
  const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0
  return !(options.stripUsageChunk && usageOnly)
}
