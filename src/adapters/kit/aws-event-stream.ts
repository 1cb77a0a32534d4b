import { joinChunks } from '../../lib/bytes.ts'
import { byteChunks } from './byte-chunks.ts'
import { KitError } from './errors.ts'

/**
 * The AWS event stream framing (`application/vnd.amazon.eventstream`, Bedrock's streaming
 * answers among others). A message is:
 *
 *   total length (u32) | headers length (u32) | prelude CRC32 (of the 8 bytes before it)
 *   headers | payload | message CRC32 (of every byte before it)
 *
 * all big-endian; CRC32 is the IEEE/zlib one. A header is a name length (u8), the name, a type
 * byte and a value whose form the type decides.
 */

export type EventStreamHeaderValue =
  | { type: 'boolean'; value: boolean }
  | { type: 'byte' | 'short' | 'integer'; value: number }
  | { type: 'long'; value: bigint }
  | { type: 'binary'; value: Uint8Array }
  | { type: 'string'; value: string }
  /** Milliseconds since the epoch on the wire. */
  | { type: 'timestamp'; value: Date }
  /** 16 bytes on the wire, written here as the usual lowercase 8-4-4-4-12 text. */
  | { type: 'uuid'; value: string }

export interface EventStreamMessage {
  /** In wire order. Bedrock names its own `:event-type`, `:message-type` and `:content-type`. */
  headers: Record<string, EventStreamHeaderValue>
  body: Uint8Array
}

const PRELUDE = 12
const OVERHEAD = PRELUDE + 4
// The type byte of each kind of value; booleans take two, one per value, and carry no bytes.
const TRUE = 0
const FALSE = 1
const CODES = { byte: 2, short: 3, integer: 4, long: 5, binary: 6, string: 7, timestamp: 8, uuid: 9 } as const

const crc32 = (bytes: Uint8Array) => Bun.hash.crc32(bytes) >>> 0
const utf8 = new TextEncoder()
const text = new TextDecoder('utf-8', { fatal: true })

/**
 * The messages of an event stream, each checked against both of its CRCs. A message is judged by
 * its 12-byte prelude before the rest of it is waited for: a declared length over
 * `maxMessageBytes` or a corrupt prelude is refused there, so no more than one chunk beyond the
 * bound is ever held.
 */
export async function* decodeEventStream(stream: ReadableStream<Uint8Array>, options: { maxMessageBytes: number }): AsyncGenerator<EventStreamMessage, void, undefined> {
  let parts: Uint8Array[] = []
  let size = 0
  // The length the message being gathered declares, once its prelude has been checked.
  let expected = 0
  for await (const chunk of byteChunks(stream)) {
    parts.push(chunk)
    size += chunk.byteLength
    for (;;) {
      if (expected === 0) {
        if (size < PRELUDE) break
        expected = checkPrelude(peek(PRELUDE), options.maxMessageBytes)
      }
      if (size < expected) break
      const bytes = shift(expected)
      expected = 0
      yield parseMessage(bytes)
    }
  }
  if (size > 0) throw new KitError('bad_frame', `the event stream ended inside a message (${size} bytes of it arrived)`)

  function peek(n: number): Uint8Array {
    if (parts[0]!.byteLength < n) parts = [joinChunks(parts, size)]
    return parts[0]!.subarray(0, n)
  }

  // Joins what waits once per whole message (a message still arriving is never copied) and keeps
  // the remainder as one part.
  function shift(n: number): Uint8Array {
    const all = joinChunks(parts, size)
    parts = all.byteLength > n ? [all.subarray(n)] : []
    size -= n
    return all.subarray(0, n)
  }
}

/** The total length a prelude declares, once it is known to be sound. */
function checkPrelude(head: Uint8Array, max: number): number {
  const view = new DataView(head.buffer, head.byteOffset, PRELUDE)
  const total = view.getUint32(0)
  const headers = view.getUint32(4)
  if (total > max) throw new KitError('too_large', `an event stream message declares ${total} bytes, over the bound of ${max}`)
  if (crc32(head.subarray(0, 8)) !== view.getUint32(8)) throw new KitError('bad_checksum', 'an event stream message has a corrupt prelude (its CRC32 does not match)')
  if (total < OVERHEAD || headers > total - OVERHEAD) throw new KitError('bad_frame', `an event stream message declares impossible lengths (total ${total}, headers ${headers})`)
  return total
}

/** One whole message, its prelude already checked. */
function parseMessage(bytes: Uint8Array): EventStreamMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.byteLength - 4
  if (crc32(bytes.subarray(0, end)) !== view.getUint32(end)) throw new KitError('bad_checksum', 'an event stream message is corrupt (its CRC32 does not match)')
  const headersEnd = PRELUDE + view.getUint32(4)
  return { headers: parseHeaders(bytes, view, PRELUDE, headersEnd), body: bytes.slice(headersEnd, end) }
}

function parseHeaders(bytes: Uint8Array, view: DataView, from: number, to: number): Record<string, EventStreamHeaderValue> {
  const headers: Record<string, EventStreamHeaderValue> = {}
  let at = from
  const need = (n: number) => {
    if (at + n > to) throw new KitError('bad_frame', 'an event stream header runs past the end of the headers')
  }
  while (at < to) {
    need(1)
    const nameLength = bytes[at]!
    need(1 + nameLength + 1)
    const name = decodeText(bytes.subarray(at + 1, at + 1 + nameLength))
    at += 1 + nameLength
    const type = bytes[at++]!
    let value: EventStreamHeaderValue
    switch (type) {
      case TRUE:
      case FALSE:
        value = { type: 'boolean', value: type === TRUE }
        break
      case CODES.byte:
        need(1)
        value = { type: 'byte', value: view.getInt8(at) }
        at += 1
        break
      case CODES.short:
        need(2)
        value = { type: 'short', value: view.getInt16(at) }
        at += 2
        break
      case CODES.integer:
        need(4)
        value = { type: 'integer', value: view.getInt32(at) }
        at += 4
        break
      case CODES.long:
      case CODES.timestamp: {
        need(8)
        const n = view.getBigInt64(at)
        value = type === CODES.long ? { type: 'long', value: n } : { type: 'timestamp', value: new Date(Number(n)) }
        at += 8
        break
      }
      case CODES.binary:
      case CODES.string: {
        need(2)
        const length = view.getUint16(at)
        need(2 + length)
        const raw = bytes.subarray(at + 2, at + 2 + length)
        value = type === CODES.binary ? { type: 'binary', value: raw.slice() } : { type: 'string', value: decodeText(raw) }
        at += 2 + length
        break
      }
      case CODES.uuid: {
        need(16)
        const hex = Buffer.from(bytes.subarray(at, at + 16)).toString('hex')
        value = { type: 'uuid', value: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` }
        at += 16
        break
      }
      default:
        throw new KitError('bad_frame', `an event stream header "${name}" has the unknown type ${type}`)
    }
    headers[name] = value
  }
  return headers
}

function decodeText(bytes: Uint8Array): string {
  try {
    return text.decode(bytes)
  } catch {
    throw new KitError('bad_frame', 'an event stream header is not valid UTF-8')
  }
}

/** The value of a string header, or undefined when it is absent or of another type. */
export function headerText(message: EventStreamMessage, name: string): string | undefined {
  const header = message.headers[name]
  return header?.type === 'string' ? header.value : undefined
}

/** One message as bytes, headers in the order given; for fixtures, and for adapters that send. */
export function encodeEventStream(message: EventStreamMessage): Uint8Array {
  const headers = encodeHeaders(message.headers)
  const total = OVERHEAD + headers.byteLength + message.body.byteLength
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(0, total)
  view.setUint32(4, headers.byteLength)
  view.setUint32(8, crc32(out.subarray(0, 8)))
  out.set(headers, PRELUDE)
  out.set(message.body, PRELUDE + headers.byteLength)
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)))
  return out
}

function encodeHeaders(headers: Record<string, EventStreamHeaderValue>): Uint8Array {
  const parts: Uint8Array[] = []
  let size = 0
  const push = (part: Uint8Array) => {
    parts.push(part)
    size += part.byteLength
  }
  for (const [name, header] of Object.entries(headers)) {
    const nameBytes = utf8.encode(name)
    if (nameBytes.byteLength === 0 || nameBytes.byteLength > 255) throw new RangeError(`an event stream header name must be 1 to 255 bytes: "${name}"`)
    push(Uint8Array.of(nameBytes.byteLength))
    push(nameBytes)
    push(encodeValue(header))
  }
  return joinChunks(parts, size)
}

function encodeValue(header: EventStreamHeaderValue): Uint8Array {
  const fixed = (code: number, bytes: number, write: (view: DataView) => void) => {
    const out = new Uint8Array(1 + bytes)
    out[0] = code
    write(new DataView(out.buffer, 1))
    return out
  }
  const sized = (code: number, raw: Uint8Array) => {
    if (raw.byteLength > 0xffff) throw new RangeError('an event stream header value is limited to 65535 bytes')
    const out = new Uint8Array(3 + raw.byteLength)
    out[0] = code
    new DataView(out.buffer).setUint16(1, raw.byteLength)
    out.set(raw, 3)
    return out
  }
  switch (header.type) {
    case 'boolean':
      return Uint8Array.of(header.value ? TRUE : FALSE)
    case 'byte':
      return fixed(CODES.byte, 1, (v) => v.setInt8(0, header.value))
    case 'short':
      return fixed(CODES.short, 2, (v) => v.setInt16(0, header.value))
    case 'integer':
      return fixed(CODES.integer, 4, (v) => v.setInt32(0, header.value))
    case 'long':
      return fixed(CODES.long, 8, (v) => v.setBigInt64(0, header.value))
    case 'timestamp':
      return fixed(CODES.timestamp, 8, (v) => v.setBigInt64(0, BigInt(header.value.getTime())))
    case 'binary':
      return sized(CODES.binary, header.value)
    case 'string':
      return sized(CODES.string, utf8.encode(header.value))
    case 'uuid': {
      const hex = header.value.replace(/-/g, '')
      if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError(`not a UUID: "${header.value}"`)
      return fixed(CODES.uuid, 16, (v) => new Uint8Array(v.buffer, 1).set(Buffer.from(hex, 'hex')))
    }
  }
}
