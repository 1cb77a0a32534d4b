import { GatewayError } from '../gateway/errors.ts'

function tooLarge(limit: number): GatewayError {
  const mib = limit / (1024 * 1024)
  const shown = Number.isInteger(mib) ? `${mib} MiB` : limit % 1024 === 0 ? `${limit / 1024} KiB` : `${limit} bytes`
  return new GatewayError('body_too_large', `The request body is larger than this gateway accepts (${shown}).`)
}

function tooSlow(timeoutMs: number): GatewayError {
  // The connection is closed after the answer: its unread rest could never be told from the next request.
  return new GatewayError('invalid_request', `The request body did not arrive within ${timeoutMs / 1000} s.`, {
    status: 408,
    headers: { connection: 'close' },
  })
}

/** Refuses a request whose declared length is over `limit`, before anything is read. */
export function checkDeclaredLength(request: Request, limit: number): void {
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit)
}

/**
 * Reads a request body up to `limit` bytes within `timeoutMs`: the declared length is checked
 * first, then the bytes are counted as they arrive, so an oversized chunked upload is cut off
 * early, and a body that stops arriving is given up (and its stream cancelled) at the deadline.
 */
export async function readBody(request: Request, limit: number, timeoutMs: number): Promise<Uint8Array> {
  checkDeclaredLength(request, limit)
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(tooSlow(timeoutMs)), timeoutMs)
  })
  try {
    if (request.headers.has('content-length')) {
      // The server's framing holds the body to its declared length, so one native read is safe
      // (and cheaper than counting chunks); a late one is abandoned along with its connection.
      const whole = request.arrayBuffer()
      whole.catch(() => {})
      return new Uint8Array(await Promise.race([whole, deadline]))
    }
    return await readCounted(request, limit, deadline)
  } finally {
    clearTimeout(timer)
  }
}

/** A body of unknown length, chunk by chunk: cut off past `limit`, given up at the deadline. */
async function readCounted(request: Request, limit: number, deadline: Promise<never>): Promise<Uint8Array> {
  const body = request.body
  if (!body) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline])
      if (done) break
      total += value.byteLength
      if (total > limit) throw tooLarge(limit)
      chunks.push(value)
    }
  } catch (err) {
    // Not awaited: a stalled client must not hold this answer up too.
    reader.cancel().catch(() => {})
    throw err
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
}
