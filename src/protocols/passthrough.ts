import type { Json } from './ir.ts'
import type { UpstreamMode } from './types.ts'

/**
 * The same-protocol body of a protocol whose streams carry their usage by themselves (Messages,
 * Responses): the client's bytes, unless the model or the `stream` flag must change.
 */
export function modelAndStreamBody(raw: Uint8Array, body: Json, upstreamModel: string, mode: UpstreamMode): Uint8Array | string {
  const wantStream = mode === 'stream'
  if (body.model === upstreamModel && (body.stream === true) === wantStream) return raw
  const out: Json = { ...body, model: upstreamModel }
  if (wantStream) out.stream = true
  else delete out.stream
  return JSON.stringify(out)
}
