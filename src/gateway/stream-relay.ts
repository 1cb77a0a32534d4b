import { SseFramer, type ByteReader } from '../lib/sse.ts'
import { pumpUpstream, type StreamEnds } from './upstream-pump.ts'

export type { Delivered } from './upstream-pump.ts'

/** Looks at each whole event of a passthrough stream; false drops it. */
export type EventWatcher = ((event: Uint8Array) => boolean) & {
  /** Whether a chunk may hold an event the watcher must see; false lets it pass unframed. */
  mayNeed?(chunk: Uint8Array): boolean
}

export interface RelayOptions extends StreamEnds {
  /** Sees every event: records usage, drops the usage chunk the gateway asked for itself. */
  watch: EventWatcher
}

/**
 * Passes an SSE stream through event by event, untouched, as each arrives. The watcher parses only
 * the few events that carry usage; everything else is forwarded as raw bytes.
 */
export function relayStream(reader: ByteReader, first: Uint8Array | null, options: RelayOptions): ReadableStream<Uint8Array> {
  const framer = new SseFramer()
  return pumpUpstream(reader, first, {
    ...options,
    // Only between whole events: a comment inside a half-received event would corrupt it.
    mayBeat: () => !framer.hasPending(),
    onChunk(value, send) {
      // Fast path: whole events that the watcher has no use for go out as they came.
      if (!framer.hasPending() && endsEvent(value) && options.watch.mayNeed?.(value) === false) {
        send(value, countEvents(value))
        return true
      }
      let sent = false
      for (const event of framer.push(value)) {
        if (!options.watch(event)) continue
        send(event)
        sent = true
      }
      return sent
    },
    onDone(send) {
      const rest = framer.rest()
      if (rest) send(rest)
      return undefined
    },
  })
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
