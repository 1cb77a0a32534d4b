import type { Json } from './ir.ts'
import type { Operation } from './types.ts'

/**
 * Embeddings between OpenAI's API and Gemini's: a client of one in front of a provider of the
 * other. Texts only; the vectors are passed as they are.
 */
export interface EmbeddingBridge {
  /** The client's operation and the one the provider performs instead. */
  client: Operation
  upstream: Operation
  request(body: Json, model: string): Json
  response(answer: Json, model: string): Json
}

function contentText(content: unknown): string {
  const parts = (content as Json)?.parts
  return Array.isArray(parts) ? parts.map((p: Json) => (typeof p?.text === 'string' ? p.text : '')).join('') : ''
}

const dimensions = (body: Json) => (typeof body.outputDimensionality === 'number' ? { dimensions: body.outputDimensionality } : {})

function openaiVectors(answer: Json): number[][] {
  const data = Array.isArray(answer.data) ? answer.data : []
  return [...data].sort((a: Json, b: Json) => (a?.index ?? 0) - (b?.index ?? 0)).map((d: Json) => (Array.isArray(d?.embedding) ? d.embedding : []))
}

function inputs(input: unknown): string[] {
  if (typeof input === 'string') return [input]
  if (Array.isArray(input) && input.every((i) => typeof i === 'string')) return input as string[]
  return []
}

export const embeddingBridges: readonly EmbeddingBridge[] = [
  {
    client: 'embed_content',
    upstream: 'embeddings',
    request: (body, model) => ({ model, input: contentText(body.content), ...dimensions(body) }),
    response: (answer) => ({ embedding: { values: openaiVectors(answer)[0] ?? [] } }),
  },
  {
    client: 'batch_embed_contents',
    upstream: 'embeddings',
    request: (body, model) => ({ model, input: ((body.requests ?? []) as Json[]).map((r) => contentText(r?.content)), ...dimensions((body.requests ?? [])[0] ?? {}) }),
    response: (answer) => ({ embeddings: openaiVectors(answer).map((values) => ({ values })) }),
  },
  {
    client: 'embeddings',
    upstream: 'batch_embed_contents',
    request: (body, model) => ({
      requests: inputs(body.input).map((text) => ({ model: `models/${model}`, content: { parts: [{ text }] }, ...(typeof body.dimensions === 'number' ? { outputDimensionality: body.dimensions } : {}) })),
    }),
    response: (answer, model) => ({
      object: 'list',
      data: ((answer.embeddings ?? []) as Json[]).map((e, index) => ({ object: 'embedding', index, embedding: Array.isArray(e?.values) ? e.values : [] })),
      model,
      usage: { prompt_tokens: 0, total_tokens: 0 },
    }),
  },
]

/** How a provider offering `offered` operations serves a client's embeddings operation, when it does not offer it itself. */
export function embeddingBridge(client: Operation, offered: readonly Operation[]): EmbeddingBridge | null {
  if (offered.includes(client)) return null
  return embeddingBridges.find((b) => b.client === client && offered.includes(b.upstream)) ?? null
}
