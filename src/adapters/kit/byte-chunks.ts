/**
 * The chunks of a byte stream, for the decoders. When the consumer stops early (a `break`, a
 * thrown error) the stream is cancelled, so the connection under it is let go rather than left
 * half-read.
 */
export async function* byteChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = stream.getReader()
  let done = false
  try {
    for (;;) {
      const next = await reader.read()
      if (next.done) {
        done = true
        return
      }
      if (next.value.byteLength > 0) yield next.value
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}
