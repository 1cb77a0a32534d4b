import { joinChunks } from '../../lib/bytes.ts'
import { byteChunks } from './byte-chunks.ts'
import { KitError } from './errors.ts'
import { parseJson } from './read-body.ts'

const decoder = new TextDecoder()

/**
 * The values of a newline-delimited JSON stream, one per line (`\n` or `\r\n`; blank lines are
 * skipped). A line longer than `maxLineBytes` is an error as soon as it is known to be, without
 * waiting for its end; a last line without its newline still counts.
 */
export async function* decodeNdjson(stream: ReadableStream<Uint8Array>, options: { maxLineBytes: number }): AsyncGenerator<unknown, void, undefined> {
  const max = options.maxLineBytes
  // The start of a line whose end has not arrived, as the chunks it came in: joined once, at its end.
  let parts: Uint8Array[] = []
  let size = 0
  let lineNo = 0
  const line = (tail: Uint8Array): unknown => {
    lineNo++
    if (size + tail.byteLength > max) throw tooLong(max, lineNo)
    parts.push(tail)
    let bytes = joinChunks(parts, size + tail.byteLength)
    parts = []
    size = 0
    if (bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, -1)
    const text = decoder.decode(bytes)
    return text.trim() === '' ? undefined : parseJson(text, `line ${lineNo} of the stream`)
  }
  for await (const chunk of byteChunks(stream)) {
    let start = 0
    for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
      const value = line(chunk.subarray(start, end))
      if (value !== undefined) yield value
      start = end + 1
    }
    if (start < chunk.length) {
      size += chunk.length - start
      if (size > max) throw tooLong(max, lineNo + 1)
      parts.push(chunk.subarray(start))
    }
  }
  if (size > 0) {
    const value = line(new Uint8Array(0))
    if (value !== undefined) yield value
  }
}

const tooLong = (max: number, lineNo: number) => new KitError('too_large', `line ${lineNo} of the stream is longer than ${max} bytes`)

const encoder = new TextEncoder()

/** One value as an NDJSON line. JSON.stringify escapes every newline, so the line stays one line. */
export function encodeNdjson(value: unknown): Uint8Array {
  const text = JSON.stringify(value)
  if (text === undefined) throw new TypeError('this value has no JSON form')
  return encoder.encode(text + '\n')
}
