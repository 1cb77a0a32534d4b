import { joinChunks } from './bytes.ts'
/**
 * Splits a byte stream into server-sent events without decoding it. Each event comes out as the
 * exact bytes received, blank-line terminator included, so a passthrough can forward it untouched.
 *
 * Linear in the bytes: a part of an event waits as a list of chunks, only new bytes are searched
 * for its end, and the parts are joined once, when the event is complete. An event that grows
 * past `maxEventBytes` stops the framing: `push` returns the events before it and `oversized()`
 * turns true.
 */
export class SseFramer {
  private parts: Uint8Array[] = []
  private size = 0
  // The last two bytes waiting, for a blank line that straddles two chunks (-1: none).
  private tail1 = -1
  private tail2 = -1
  private over = false

  constructor(private readonly maxEventBytes = Infinity) {}

  push(chunk: Uint8Array): Uint8Array[] {
    const events: Uint8Array[] = []
    if (this.over || chunk.length === 0) return events
    let start = 0
    if (this.size > 0) {
      start = this.straddleEnd(chunk)
      if (start < 0) start = firstEventEnd(chunk)
      if (start < 0) return this.keep(chunk, 0, events)
      if (this.size + start > this.maxEventBytes) return this.overflow(events)
      this.parts.push(chunk.subarray(0, start))
      events.push(joinChunks(this.parts, this.size + start))
      this.parts = []
      this.size = 0
    }
    // Native search for each newline: a loop over every byte in JavaScript costs more.
    for (let i = start; (i = chunk.indexOf(10, i)) >= 0; i++) {
      const end = blankLineEnd(chunk, i)
      if (end < 0) continue
      if (end - start > this.maxEventBytes) return this.overflow(events)
      events.push(chunk.subarray(start, end))
      start = end
      i = end - 1
    }
    return start < chunk.length ? this.keep(chunk, start, events) : events
  }

  /** Whether part of an event has arrived and waits for its end. */
  hasPending(): boolean {
    return this.size > 0
  }

  /** Whether an event grew past the limit; nothing more is framed after it. */
  oversized(): boolean {
    return this.over
  }

  /** Whatever arrived after the last complete event (an upstream that closed mid-event). */
  rest(): Uint8Array | null {
    const rest = this.size > 0 ? joinChunks(this.parts, this.size) : null
    this.parts = []
    this.size = 0
    this.tail1 = this.tail2 = -1
    return rest
  }

  /** Where a blank line that began in the waiting bytes ends in `chunk`, or -1. */
  private straddleEnd(chunk: Uint8Array): number {
    const c0 = chunk[0]
    if (this.tail2 === 10) {
      if (c0 === 10) return 1
      if (c0 === 13 && chunk[1] === 10) return 2
    }
    if (this.tail1 === 10 && this.tail2 === 13 && c0 === 10) return 1
    return -1
  }

  private keep(chunk: Uint8Array, from: number, events: Uint8Array[]): Uint8Array[] {
    const part = chunk.subarray(from)
    const first = this.size === 0
    this.size += part.length
    if (this.size > this.maxEventBytes) return this.overflow(events)
    this.parts.push(part)
    if (part.length >= 2) {
      this.tail1 = part[part.length - 2]!
      this.tail2 = part[part.length - 1]!
    } else {
      this.tail1 = first ? -1 : this.tail2
      this.tail2 = part[0]!
    }
    return events
  }

  private overflow(events: Uint8Array[]): Uint8Array[] {
    this.over = true
    this.parts = []
    this.size = 0
    return events
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

/** Where the first blank line in `buf` ends, or -1. */
function firstEventEnd(buf: Uint8Array): number {
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    const end = blankLineEnd(buf, i)
    if (end >= 0) return end
  }
  return -1
}

/** A reader of a byte stream, whichever ReadableStream implementation made it. */
export type ByteReader = {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>
  cancel(reason?: unknown): Promise<void>
}

const decoder = new TextDecoder()

/** The joined `data:` lines of one event, or null for a comment-only event. */
export function eventData(event: Uint8Array): string | null {
  return eventParts(event).data
}

/** The `event:` name (null when it has none) and the data of one whole event. */
export function eventParts(event: Uint8Array): { name: string | null; data: string | null } {
  let name: string | null = null
  let data: string | null = null
  for (const raw of decoder.decode(event).split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
      data = data === null ? value : data + '\n' + value
    } else if (line.startsWith('event:')) name = line.slice(6).trim()
  }
  return { name, data }
}

const encoder = new TextEncoder()

/**
 * One server-sent event as text: its `event:` line when named, its data (one `data:` line per line
 * of it), and the blank line that ends it. Every SSE the gateway writes is made here.
 */
export function sseEvent(data: string, name?: string): string {
  const body = data.includes('\n') ? data.split('\n').map((l) => `data: ${l}`).join('\n') : `data: ${data}`
  return name ? `event: ${name}\n${body}\n\n` : `${body}\n\n`
}

export function encodeDataEvent(data: string): Uint8Array {
  return encoder.encode(sseEvent(data))
}

export function encodeNamedEvent(name: string, data: string): Uint8Array {
  return encoder.encode(sseEvent(data, name))
}

export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`)
}
