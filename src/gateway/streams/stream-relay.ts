import { blankLineEnd, blankLineEndsAt, SseFramer, type ByteReader } from '../../lib/sse.ts'
import type { EventWatcher } from '../../protocols/types.ts'
import { GatewayError } from '../errors.ts'
import { pumpUpstream, type StreamEnds } from './upstream-pump.ts'

export type { Delivered } from './upstream-pump.ts'

export type { EventWatcher }

export interface RelayOptions extends StreamEnds {
  /** Sees every event: records usage, drops the usage chunk the gateway asked for itself. */
  watch: EventWatcher
  /** One event may be at most this long; a longer one ends the stream as an upstream failure. */
  maxEventBytes: number
}

/**
 * Passes an SSE stream through event by event, untouched, as each arrives. The watcher parses only
 * the few events that carry usage; everything else is forwarded as raw bytes.
 */
export function relayStream(reader: ByteReader, first: Uint8Array | null, options: RelayOptions): ReadableStream<Uint8Array> {
  const { maxEventBytes } = options
  const framer = new SseFramer(maxEventBytes)
  return pumpUpstream(reader, first, {
    ...options,
    // Only between whole events: a comment inside a half-received event would corrupt it.
    mayBeat: () => !framer.hasPending(),
    onChunk(value, send) {
      let sent = false
      // Fast path: whole events that the watcher has no use for go out as they came. A chunk longer
      // than one event may be is framed instead, so that every event's length is checked.
      if (!framer.hasPending() && value.length <= maxEventBytes && blankLineEndsAt(value, value.length) && options.watch.needFrom) {
        const from = options.watch.needFrom(value)
        if (from < 0) {
          send(value, countEvents(value))
          return true
        }
        if (from > 0) {
          const head = value.subarray(0, from)
          send(head, countEvents(head))
          sent = true
          value = value.subarray(from)
        }
      }
      for (const event of framer.push(value)) {
        if (!options.watch(event)) continue
        send(event)
        sent = true
      }
      if (framer.oversized()) throw eventTooLarge(options.call.providerName, maxEventBytes)
      return sent
    },
    onDone(send) {
      const rest = framer.rest()
      if (rest && options.watch(rest)) send(rest)
      // A protocol that knows its last event can tell a stream that was cut short from one that ended.
      if (options.watch.complete && !options.watch.complete()) {
        const error = new GatewayError('upstream_error', `Provider ${options.call.providerName} ended the stream before the response was complete.`)
        send(options.renderError(error))
        return error
      }
      return undefined
    },
  })
}

/** An upstream stream event past the limit: the upstream's failure (the stream is cut there). */
export function eventTooLarge(provider: string, limit: number): GatewayError {
  return new GatewayError('upstream_error', `Provider ${provider} sent a stream event larger than ${limit} bytes.`)
}

/** Events that end in a chunk: blank lines, `\n\n` or `\n\r\n`. */
function countEvents(chunk: Uint8Array): number {
  let n = 0
  for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
    const end = blankLineEnd(chunk, i)
    if (end < 0) continue
    n++
    i = end - 1
  }
  return Math.max(1, n)
}
