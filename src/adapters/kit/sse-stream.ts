import { SseFramer, eventParts, sseEvent } from '../../lib/sse.ts'
import { byteChunks } from './byte-chunks.ts'
import { KitError } from './errors.ts'

export interface SseMessage {
  /** The `event:` name, or null for an unnamed event. */
  event: string | null
  /** The `data:` lines, joined by newlines. */
  data: string
}

/**
 * The events of a server-sent event stream, framed by the gateway's own SSE framer. Comment-only
 * events (keep-alives) are skipped; an event that grows past `maxEventBytes` is an error rather
 * than an unbounded buffer; a last event the upstream closed without its blank line still counts.
 */
export async function* decodeSse(stream: ReadableStream<Uint8Array>, options: { maxEventBytes: number }): AsyncGenerator<SseMessage, void, undefined> {
  const framer = new SseFramer(options.maxEventBytes)
  for await (const chunk of byteChunks(stream)) {
    for (const raw of framer.push(chunk)) {
      const message = toMessage(raw)
      if (message) yield message
    }
    if (framer.oversized()) throw new KitError('too_large', `a server-sent event is larger than ${options.maxEventBytes} bytes`)
  }
  const rest = framer.rest()
  const last = rest ? toMessage(rest) : null
  if (last) yield last
}

function toMessage(raw: Uint8Array): SseMessage | null {
  const { name, data } = eventParts(raw)
  return data === null ? null : { event: name, data }
}

const encoder = new TextEncoder()

/** One server-sent event as bytes: an `event:` line when named, one `data:` line per line of data. */
export function encodeSse(message: { event?: string | null; data: string }): Uint8Array {
  // A line break in the name would start a line of the event's own choosing.
  if (message.event && /[\r\n]/.test(message.event)) throw new RangeError('an SSE event name cannot contain a line break')
  return encoder.encode(sseEvent(message.data, message.event ?? undefined))
}
