import type { JsonObject } from './request-body.ts'

/**
 * The official OpenAI SDK asks for base64 embeddings by default and decodes them itself. Some
 * OpenAI-compatible upstreams ignore `encoding_format` and answer with float arrays; re-encode
 * those as base64 little-endian float32 so the SDK gets what it asked for. Returns null when the
 * response is already right.
 */
export function base64Embeddings(response: JsonObject): JsonObject | null {
  const data = response.data
  if (!Array.isArray(data) || !data.some((d) => Array.isArray((d as JsonObject)?.embedding))) return null
  return {
    ...response,
    data: data.map((d: JsonObject) =>
      Array.isArray(d.embedding) ? { ...d, embedding: floatsToBase64(d.embedding as number[]) } : d,
    ),
  }
}

function floatsToBase64(values: number[]): string {
  const floats = new Float32Array(values)
  // Float32Array uses the platform's byte order; every platform Bun runs on is little-endian.
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64')
}
