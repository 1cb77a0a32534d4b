/**
 * Splits a byte stream into server-sent events without decoding it. Each event comes out as the
 * exact bytes received, blank-line terminator included, so a passthrough can forward it untouched.
 */
export class SseFramer {
  private pending: Uint8Array | null = null

  push(chunk: Uint8Array): Uint8Array[] {
    const buf = this.pending ? concat(this.pending, chunk) : chunk
    const events: Uint8Array[] = []
    let start = 0
    // Resume the boundary search a few bytes before the new data in case "\n\n" straddles chunks.
    let i = this.pending ? Math.max(0, this.pending.length - 3) : 0
    // Native search for each newline: a loop over every byte in JavaScript costs more.
    for (; (i = buf.indexOf(10, i)) >= 0; i++) {
      const end = blankLineEnd(buf, i)
      if (end < 0) continue
      if (i < start) continue
      events.push(buf.subarray(start, end))
      start = end
      i = end - 1
    }
    this.pending = start < buf.length ? buf.slice(start) : null
    return events
  }

  /** Whether part of an event has arrived and waits for its end. */
  hasPending(): boolean {
    return this.pending !== null
  }

  /** Whatever arrived after the last complete event (an upstream that closed mid-event). */
  rest(): Uint8Array | null {
    const rest = this.pending
    this.pending = null
    return rest
  }
}

/**
 * Given a newline at `i`, where the blank line that ends an event finishes (`\n\n` or
 * `\n\r\n`), or -1 when this newline does not start one.
 */
export function blankLineEnd(buf: Uint8Array, i: number): number {
  const next = buf[i + 1]
  if (next === 10) return i + 2
  if (next === 13 && buf[i + 2] === 10) return i + 3
  return -1
}

/** Whether a blank line (`\n\n` or `\n\r\n`) finishes exactly at `end`: an event ends there. */
export function blankLineEndsAt(buf: Uint8Array, end: number): boolean {
  return end >= 2 && buf[end - 1] === 10 && (buf[end - 2] === 10 || (buf[end - 2] === 13 && buf[end - 3] === 10))
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** A reader of a byte stream, whichever ReadableStream implementation made it. */
export type ByteReader = {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>
  cancel(reason?: unknown): Promise<void>
}

const decoder = new TextDecoder()

/** The joined `data:` lines of one event, or null for a comment-only event. */
export function eventData(event: Uint8Array): string | null {
  const text = decoder.decode(event)
  let data: string | null = null
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (!line.startsWith('data:')) continue
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
    data = data === null ? value : data + '\n' + value
  }
  return data
}

const encoder = new TextEncoder()

export function encodeDataEvent(data: string): Uint8Array {
  return encoder.encode(`data: ${data}\n\n`)
}

export function encodeNamedEvent(name: string, data: string): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${data}\n\n`)
}

export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`)
}
