import { eventParts, SseFramer, type ByteReader } from '../../lib/sse.ts'
import type { StreamTranslation } from '../../protocols/translate.ts'
import { GatewayError } from '../errors.ts'
import { eventTooLarge } from './stream-relay.ts'
import { pumpUpstream, type StreamEnds } from './upstream-pump.ts'

export interface TranslateOptions extends StreamEnds {
  translator: StreamTranslation
  /** One upstream event may be at most this long; a longer one ends the stream as failed. */
  maxEventBytes: number
}

const encoder = new TextEncoder()

/**
 * A stream in the other protocol: each upstream event is parsed once, translated, and the result
 * encoded once, as it arrives.
 */
export function translateStream(reader: ByteReader, first: Uint8Array | null, options: TranslateOptions): ReadableStream<Uint8Array> {
  const { translator } = options
  const framer = new SseFramer(options.maxEventBytes)
  const translate = (event: Uint8Array) => {
    const { name, data } = eventParts(event)
    return data === null ? '' : translator.push(name, data)
  }
  return pumpUpstream(reader, first, {
    ...options,
    // Translated events are whole by construction; a heartbeat can go between any two.
    mayBeat: () => true,
    onChunk(value, send) {
      let out = ''
      for (const event of framer.push(value)) out += translate(event)
      if (framer.oversized()) {
        if (out) send(encoder.encode(out))
        throw eventTooLarge(options.call.providerName, options.maxEventBytes)
      }
      if (!out) return false
      send(encoder.encode(out))
      return true
    },
    onDone(send) {
      const rest = framer.rest()
      const out = (rest ? translate(rest) : '') + translator.end()
      if (out) send(encoder.encode(out))
      const failure = translator.failure()
      return failure ? new GatewayError('upstream_error', failure.message) : undefined
    },
  })
}
