import { GatewayError } from '../gateway/errors.ts'

function tooLarge(limit: number): GatewayError {
  const mib = limit / (1024 * 1024)
  const shown = Number.isInteger(mib) ? `${mib} MiB` : `${limit} bytes`
  return new GatewayError('body_too_large', `The request body is larger than this gateway accepts (${shown}).`)
}

/**
 * Reads a request body up to `limit` bytes: the declared length is checked first, then the bytes
 * are counted as they arrive, so an oversized chunked upload is cut off early.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length')
  if (declared !== null) {
    if (Number(declared) > limit) throw tooLarge(limit)
    return new Uint8Array(await request.arrayBuffer())
  }
  if (!request.body) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}
