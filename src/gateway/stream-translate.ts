import { SseFramer, type ByteReader } from '../lib/sse.ts'
import type { StreamTranslator } from '../translate/stream-to-openai.ts'
import { GatewayError } from './errors.ts'
import type { Delivered } from './stream-relay.ts'
import { ClientClosed, type UpstreamCall } from './upstream-call.ts'

export interface TranslateOptions {
  call: UpstreamCall
  translator: StreamTranslator
  heartbeatMs: number
  heartbeat: Uint8Array
  onEnd(outcome: 'ok' | 'error' | 'client_closed', delivered: Delivered, error?: GatewayError): void
  renderError(error: GatewayError): Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The name and data of one SSE event. */
function parts(event: Uint8Array): { name: string | null; data: string | null } {
  let name: string | null = null
  let data: string | null = null
  for (const raw of decoder.decode(event).split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.startsWith('event:')) name = line.slice(6).trim()
    else if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
      data = data === null ? value : data + '\n' + value
    }
  }
  return { name, data }
}

/**
 * A stream in the other protocol: each upstream event is parsed once, translated, and the result
 * encoded once, as it arrives.
 */
export function translateStream(reader: ByteReader, first: Uint8Array | null, options: TranslateOptions): ReadableStream<Uint8Array> {
  const { call, translator } = options
  const framer = new SseFramer()
  const delivered: Delivered = { events: 0, bytes: 0 }
  let pendingFirst = first
  let ended = false
  let sentSinceTick = true
  let heartbeat: ReturnType<typeof setInterval> | null = null
  const end = (outcome: 'ok' | 'error' | 'client_closed', error?: GatewayError) => {
    if (ended) return
    ended = true
    if (heartbeat) clearInterval(heartbeat)
    call.finish()
    options.onEnd(outcome, delivered, error)
  }
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    if (!text) return false
    const bytes = encoder.encode(text)
    controller.enqueue(bytes)
    delivered.events++
    delivered.bytes += bytes.byteLength
    sentSinceTick = true
    return true
  }

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (options.heartbeatMs <= 0) return
        heartbeat = setInterval(() => {
          if (!sentSinceTick && !ended) controller.enqueue(options.heartbeat)
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
                let out = ''
                if (rest) {
                  const { name, data } = parts(rest)
                  if (data !== null) out += translator.push(name, data)
                }
                send(controller, out + translator.end())
                controller.close()
                const failure = translator.failure()
                end(failure ? 'error' : 'ok', failure ? new GatewayError('upstream_error', failure.message) : undefined)
                return
              }
              value = read.value
              call.touch()
            }
            let out = ''
            for (const event of framer.push(value)) {
              const { name, data } = parts(event)
              if (data !== null) out += translator.push(name, data)
            }
            if (send(controller, out)) return
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
