import { blankLineEndsAt, eventData } from '../lib/sse.ts'

const USAGE_KEY = Buffer.from('"usage"')

/** Where the first `"usage": {` key (not `"usage": null`) is in some bytes, or -1. */
function usageAt(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let at = buf.indexOf(USAGE_KEY); at >= 0; at = buf.indexOf(USAGE_KEY, at + 1)) {
    let i = at + USAGE_KEY.length
    while (buf[i] === 32) i++
    if (buf[i] !== 58) continue
    i++
    while (buf[i] === 32) i++
    if (buf[i] === 123) return at
  }
  return -1
}

/** Whether an event carries a usage object (a byte scan: most events are not parsed at all). */
export const carriesUsage = (event: Uint8Array) => usageAt(event) >= 0

/** In a chunk of whole events: where the first event carrying usage starts, or -1. */
export function usageEventFrom(chunk: Uint8Array): number {
  const at = usageAt(chunk)
  if (at < 0) return -1
  // Back to the blank line that ends the event before it.
  for (let end = at; end >= 2; end--) if (blankLineEndsAt(chunk, end)) return end
  return 0
}

/** An event's data as JSON, or null. */
export function parseEvent(event: Uint8Array): Record<string, any> | null {
  const data = eventData(event)
  if (data === null) return null
  try {
    return JSON.parse(data)
  } catch {
    return null
  }
}
