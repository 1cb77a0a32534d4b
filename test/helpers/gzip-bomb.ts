const enc = new TextEncoder()
const MiB = 1024 * 1024

/**
 * A JSON answer that is about 1 MB on the wire and 1 GiB once inflated: gzip members concatenated
 * decompress to their contents concatenated, so one 16 MiB member of spaces is sent 64 times after
 * the start of an object. The member is made once per process.
 */
let member: Uint8Array | null = null
export function gzipBombResponse(): Response {
  member ??= Bun.gzipSync(new Uint8Array(16 * MiB).fill(32))
  const parts = [Bun.gzipSync(enc.encode('{"id":"x","pad":"')), ...Array.from({ length: 64 }, () => member!)]
  return new Response(
    new ReadableStream({
      pull(c) {
        const p = parts.shift()
        if (p) c.enqueue(p)
        else c.close()
      },
    }),
    { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } },
  )
}
