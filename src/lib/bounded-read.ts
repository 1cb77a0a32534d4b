import { joinChunks } from './bytes.ts'
import type { ByteReader } from './sse.ts'

/** What a bounded read got: the bytes, and whether they are the whole body. */
export interface BoundedBody {
  bytes: Uint8Array
  /** False when the body went on past the limit; `bytes` then holds its first `limit` bytes if `partial` was asked, else none. */
  complete: boolean
  /** Bytes read, counted as the reader yields them (after any decompression). */
  read: number
}

/**
 * Reads a body up to `limit` bytes, counting what the reader yields (for a compressed answer, the
 * decompressed bytes), and cancels the rest unread once the limit is passed. Holds at most the
 * limit plus one chunk; joins the chunks once at the end.
 */
export async function readBounded(reader: ByteReader, limit: number, partial = false): Promise<BoundedBody> {
  const parts: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { bytes: joinChunks(parts, size), complete: true, read: size }
    if (size + value.byteLength > limit) {
      reader.cancel().catch(() => {})
      if (!partial) return { bytes: new Uint8Array(0), complete: false, read: size + value.byteLength }
      parts.push(value.subarray(0, limit - size))
      return { bytes: joinChunks(parts, limit), complete: false, read: size + value.byteLength }
    }
    parts.push(value)
    size += value.byteLength
  }
}

/**
 * Whether the declared length of an uncompressed body already exceeds `limit`, so that it need not
 * be read at all. A compressed body is judged by what it expands to, while it is read.
 */
export function declaredOver(headers: Headers, limit: number): boolean {
  const encoding = headers.get('content-encoding')
  if (encoding && encoding !== 'identity') return false
  const length = Number(headers.get('content-length'))
  return Number.isFinite(length) && length > limit
}

/** Whether an uncompressed body declares a length within `limit`: the framing then holds it to that. */
export function declaredWithin(headers: Headers, limit: number): boolean {
  const encoding = headers.get('content-encoding')
  if (encoding && encoding !== 'identity') return false
  const declared = headers.get('content-length')
  if (declared === null) return false
  const length = Number(declared)
  return Number.isInteger(length) && length >= 0 && length <= limit
}
