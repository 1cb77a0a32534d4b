import { describe, expect, test } from 'bun:test'
import { decodeEventStream, encodeEventStream, headerText, type EventStreamMessage } from '../../src/adapters/kit/aws-event-stream.ts'
import { KitError } from '../../src/adapters/kit/errors.ts'
import { decodeNdjson, encodeNdjson } from '../../src/adapters/kit/ndjson-stream.ts'
import { decodeSse, encodeSse } from '../../src/adapters/kit/sse-stream.ts'

const utf8 = new TextEncoder()
const bytes = (text: string) => utf8.encode(text)

/** A stream of the given chunks; `hang` leaves it open after them, as a stalled upstream would. */
function streamOf(chunks: Uint8Array[], options: { hang?: boolean } = {}) {
  let cancelled = false
  let i = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!)
      else if (!options.hang) controller.close()
      else return new Promise<void>(() => {})
    },
    cancel() {
      cancelled = true
    },
  })
  return { stream, cancelled: () => cancelled }
}

/** The bytes cut into pieces of `size` (1: every byte boundary is a chunk boundary). */
function pieces(all: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size))
  return out
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

async function failure(work: Promise<unknown>): Promise<KitError> {
  try {
    await work
  } catch (err) {
    expect(err).toBeInstanceOf(KitError)
    return err as KitError
  }
  throw new Error('expected a failure')
}

describe('server-sent events', () => {
  const wire = bytes(': keep-alive\n\nevent: delta\ndata: {"a":1}\n\ndata: line one\r\ndata: line two\r\n\r\nid: 7\ndata: [DONE]\n\n')
  const expected = [
    { event: 'delta', data: '{"a":1}' },
    { event: null, data: 'line one\nline two' },
    { event: null, data: '[DONE]' },
  ]

  test('named and unnamed events, multi-line data and CRLF; comments skipped; any chunking gives the same events', async () => {
    for (const size of [1, 2, 3, 7, wire.length]) {
      expect(await collect(decodeSse(streamOf(pieces(wire, size)).stream, { maxEventBytes: 1024 }))).toEqual(expected)
    }
  })

  test('a last event closed without its blank line still counts', async () => {
    const events = await collect(decodeSse(streamOf([bytes('data: a\n\ndata: b')]).stream, { maxEventBytes: 64 }))
    expect(events.map((e) => e.data)).toEqual(['a', 'b'])
  })

  test('an event past the bound is an error, without waiting for its end, and the stream is cancelled', async () => {
    const source = streamOf([bytes('data: ok\n\n'), bytes('data: ' + 'x'.repeat(200))], { hang: true })
    const seen: string[] = []
    const err = await failure(
      (async () => {
        for await (const event of decodeSse(source.stream, { maxEventBytes: 100 })) seen.push(event.data)
      })(),
    )
    expect(err.code).toBe('too_large')
    expect(seen).toEqual(['ok'])
    expect(source.cancelled()).toBe(true)
  })

  test('a consumer that stops early cancels the stream under it', async () => {
    const source = streamOf([bytes('data: 1\n\ndata: 2\n\n')], { hang: true })
    for await (const event of decodeSse(source.stream, { maxEventBytes: 64 })) {
      expect(event.data).toBe('1')
      break
    }
    expect(source.cancelled()).toBe(true)
  })

  test('the encoder writes what the decoder reads back', async () => {
    const messages = [{ event: 'message_start', data: '{"x":"a\\nb"}' }, { event: null, data: 'two\nlines' }]
    const wireOut = concat(...messages.map(encodeSse))
    expect(new TextDecoder().decode(wireOut)).toBe('event: message_start\ndata: {"x":"a\\nb"}\n\ndata: two\ndata: lines\n\n')
    expect(await collect(decodeSse(streamOf([wireOut]).stream, { maxEventBytes: 64 }))).toEqual(messages)
    expect(() => encodeSse({ event: 'a\ndata: injected', data: 'x' })).toThrow(RangeError)
  })
})

describe('newline-delimited JSON', () => {
  test('one value per line, across any chunking; CRLF and blank lines; a last line without its newline', async () => {
    const wire = bytes('{"a":1}\r\n\n[1,2]\n"text with \\n escape"\nnull\n{"end":true}')
    const expected = [{ a: 1 }, [1, 2], 'text with \n escape', null, { end: true }]
    for (const size of [1, 4, wire.length]) {
      expect(await collect(decodeNdjson(streamOf(pieces(wire, size)).stream, { maxLineBytes: 64 }))).toEqual(expected)
    }
  })

  test('a line past the bound is an error as soon as it is, even while its end never comes', async () => {
    const source = streamOf([bytes('{"ok":1}\n'), bytes('{"big":"' + 'x'.repeat(100))], { hang: true })
    const err = await failure(collect(decodeNdjson(source.stream, { maxLineBytes: 50 })))
    expect(err.code).toBe('too_large')
    expect(err.message).toContain('line 2')
    expect(source.cancelled()).toBe(true)
  })

  test('a line that is not JSON is an error naming the line', async () => {
    const err = await failure(collect(decodeNdjson(streamOf([bytes('{"a":1}\n{oops}\n')]).stream, { maxLineBytes: 64 })))
    expect(err.code).toBe('bad_json')
    expect(err.message).toContain('line 2')
  })

  test('the encoder writes one line per value, whatever the value holds', async () => {
    const values = [{ text: 'a\nb\r\nc' }, 42, 'x']
    const wire = concat(...values.map(encodeNdjson))
    expect(new TextDecoder().decode(wire).split('\n')).toHaveLength(4)
    expect(await collect(decodeNdjson(streamOf([wire]).stream, { maxLineBytes: 64 }))).toEqual(values)
    expect(() => encodeNdjson(undefined)).toThrow(TypeError)
  })
})

// Test vectors of the AWS event stream encoding, from the AWS SDK for JavaScript v3
// (github.com/aws/aws-sdk-js-v3, packages/eventstream-codec/src/TestVectors.fixture.ts),
// licensed under the Apache License 2.0. Bytes as published; the expected decodings are written
// here in this module's own shape.
const FOO_BAR = [123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125] // {'foo':'bar'}
const VECTORS = {
  empty_message: [0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255],
  int32_header: [
    0, 0, 0, 45, 0, 0, 0, 16, 65, 196, 36, 184, 10, 101, 118, 101, 110, 116, 45, 116, 121, 112, 101, 4, 0, 0, 160, 12,
    ...FOO_BAR, 54, 244, 128, 160,
  ],
  payload_no_headers: [0, 0, 0, 29, 0, 0, 0, 0, 253, 82, 140, 90, ...FOO_BAR, 195, 101, 57, 54],
  payload_one_str_header: [
    0, 0, 0, 61, 0, 0, 0, 32, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
    16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, ...FOO_BAR, 141, 156, 8, 177,
  ],
  all_headers: [
    0, 0, 0, 204, 0, 0, 0, 175, 15, 174, 100, 202, 10, 101, 118, 101, 110, 116, 45, 116, 121, 112, 101, 4, 0, 0, 160,
    12, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0, 16, 97, 112, 112, 108, 105, 99, 97, 116,
    105, 111, 110, 47, 106, 115, 111, 110, 10, 98, 111, 111, 108, 32, 102, 97, 108, 115, 101, 1, 9, 98, 111, 111, 108,
    32, 116, 114, 117, 101, 0, 4, 98, 121, 116, 101, 2, 207, 8, 98, 121, 116, 101, 32, 98, 117, 102, 6, 0, 20, 73, 39,
    109, 32, 97, 32, 108, 105, 116, 116, 108, 101, 32, 116, 101, 97, 112, 111, 116, 33, 9, 116, 105, 109, 101, 115,
    116, 97, 109, 112, 8, 0, 0, 0, 0, 0, 132, 95, 237, 5, 105, 110, 116, 49, 54, 3, 0, 42, 5, 105, 110, 116, 54, 52,
    5, 0, 0, 0, 0, 2, 135, 87, 178, 4, 117, 117, 105, 100, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    ...FOO_BAR, 171, 165, 241, 12,
  ],
  // Each corrupt in one byte: the payload, a header name, the headers length, the total length.
  corrupted_payload: [0, 0, 0, 29, 0, 0, 0, 0, 253, 82, 140, 90, 91, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125, 195, 101, 57, 54],
  corrupted_headers: [
    0, 0, 0, 61, 0, 0, 0, 32, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
    16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, 123, 97, 102, 111, 111, 39, 58,
    39, 98, 97, 114, 39, 125, 141, 156, 8, 177,
  ],
  corrupted_header_len: [
    0, 0, 0, 61, 0, 0, 0, 33, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
    16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, ...FOO_BAR, 141, 156, 8, 177,
  ],
  corrupted_length: [
    0, 0, 0, 62, 0, 0, 0, 32, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
    16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, ...FOO_BAR, 141, 156, 8, 177,
  ],
}
const vector = (name: keyof typeof VECTORS) => Uint8Array.from(VECTORS[name])
const body = Uint8Array.from(FOO_BAR)

const DECODED: Record<'empty_message' | 'int32_header' | 'payload_no_headers' | 'payload_one_str_header' | 'all_headers', EventStreamMessage> = {
  empty_message: { headers: {}, body: new Uint8Array(0) },
  int32_header: { headers: { 'event-type': { type: 'integer', value: 40972 } }, body },
  payload_no_headers: { headers: {}, body },
  payload_one_str_header: { headers: { 'content-type': { type: 'string', value: 'application/json' } }, body },
  all_headers: {
    headers: {
      'event-type': { type: 'integer', value: 40972 },
      'content-type': { type: 'string', value: 'application/json' },
      'bool false': { type: 'boolean', value: false },
      'bool true': { type: 'boolean', value: true },
      byte: { type: 'byte', value: -49 },
      'byte buf': { type: 'binary', value: bytes("I'm a little teapot!") },
      timestamp: { type: 'timestamp', value: new Date(8675309) },
      int16: { type: 'short', value: 42 },
      int64: { type: 'long', value: 42424242n },
      uuid: { type: 'uuid', value: '01020304-0506-0708-090a-0b0c0d0e0f10' },
    },
    body,
  },
}

const decodeAll = (chunks: Uint8Array[], maxMessageBytes = 1 << 20) => collect(decodeEventStream(streamOf(chunks).stream, { maxMessageBytes }))

describe('AWS event stream', () => {
  for (const [name, message] of Object.entries(DECODED)) {
    test(`the published ${name} vector decodes to its message, and encoding that message gives the same bytes`, async () => {
      const wire = vector(name as keyof typeof DECODED)
      expect(await decodeAll([wire])).toEqual([message])
      expect(encodeEventStream(message)).toEqual(wire)
    })
  }

  for (const name of ['corrupted_payload', 'corrupted_headers', 'corrupted_header_len', 'corrupted_length'] as const) {
    test(`the published ${name} vector is refused as corrupt`, async () => {
      // A wrong length is caught by the prelude's CRC, a wrong header or payload by the message's.
      expect((await failure(decodeAll([vector(name)]))).code).toBe('bad_checksum')
    })
  }

  test('messages back to back decode alike however the bytes are cut, every byte boundary included', async () => {
    const names = ['all_headers', 'empty_message', 'int32_header', 'payload_one_str_header'] as const
    const wire = concat(...names.map(vector))
    for (const size of [1, 5, 13, 100, wire.length]) {
      expect(await decodeAll(pieces(wire, size))).toEqual(names.map((n) => DECODED[n]))
    }
  })

  test('a Bedrock-style message: string headers read by name, the JSON payload intact', async () => {
    const payload = bytes(JSON.stringify({ bytes: Buffer.from('{"type":"content_block_delta"}').toString('base64') }))
    const wire = encodeEventStream({
      headers: {
        ':event-type': { type: 'string', value: 'chunk' },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: 'event' },
      },
      body: payload,
    })
    const [message] = await decodeAll([wire])
    expect(headerText(message!, ':event-type')).toBe('chunk')
    expect(headerText(message!, ':missing')).toBeUndefined()
    expect(JSON.parse(new TextDecoder().decode(message!.body)).bytes).toBeString()
  })

  test('a declared length over the bound is refused from the prelude, before the message is buffered', async () => {
    const prelude = new Uint8Array(12)
    const view = new DataView(prelude.buffer)
    view.setUint32(0, 1 << 30)
    view.setUint32(4, 0)
    view.setUint32(8, Bun.hash.crc32(prelude.subarray(0, 8)))
    // Only the prelude ever arrives: a decoder that waited for the gigabyte would hang here.
    const source = streamOf([prelude], { hang: true })
    const err = await failure(collect(decodeEventStream(source.stream, { maxMessageBytes: 1 << 20 })))
    expect(err.code).toBe('too_large')
    expect(err.message).toContain(String(1 << 30))
    expect(source.cancelled()).toBe(true)
  })

  test('a corrupt prelude is refused before its message is waited for', async () => {
    const wire = vector('all_headers')
    wire[3] = 100 // total length 100 instead of 204: the prelude CRC no longer matches
    const source = streamOf([wire.subarray(0, 12)], { hang: true })
    expect((await failure(collect(decodeEventStream(source.stream, { maxMessageBytes: 1024 })))).code).toBe('bad_checksum')
  })

  test('a message CRC that does not match is a clear error', async () => {
    const wire = vector('payload_no_headers')
    wire[wire.length - 1]! ^= 1
    const err = await failure(decodeAll([wire]))
    expect(err.code).toBe('bad_checksum')
    expect(err.message).toContain('CRC32')
  })

  test('a stream that ends inside a message, or a header of an unknown type, is a malformed frame', async () => {
    expect((await failure(decodeAll([vector('all_headers').subarray(0, 100)]))).code).toBe('bad_frame')
    // A header of type 10, with both CRCs recomputed so that only the type is wrong.
    const wire = encodeEventStream({ headers: { x: { type: 'boolean', value: true } }, body: new Uint8Array(0) })
    wire[14] = 10
    const view = new DataView(wire.buffer)
    view.setUint32(wire.length - 4, Bun.hash.crc32(wire.subarray(0, wire.length - 4)))
    const err = await failure(decodeAll([wire]))
    expect(err.code).toBe('bad_frame')
    expect(err.message).toContain('unknown type 10')
  })

  test('the encoder refuses what the wire cannot carry', () => {
    expect(() => encodeEventStream({ headers: { ['n'.repeat(256)]: { type: 'boolean', value: true } }, body: new Uint8Array(0) })).toThrow(RangeError)
    expect(() => encodeEventStream({ headers: { u: { type: 'uuid', value: 'not-a-uuid' } }, body: new Uint8Array(0) })).toThrow(RangeError)
  })
})
