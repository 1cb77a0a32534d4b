import type { Operation } from '../providers/types.ts'
import { sha256Hex } from '../lib/crypto.ts'
import { GatewayError } from './errors.ts'

export type JsonObject = Record<string, unknown>

const decoder = new TextDecoder()

/** Parses a JSON object body; anything else is a 400 in the API's words. */
export function parseJsonObject(raw: Uint8Array): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(raw))
  } catch {
    throw new GatewayError(
      'invalid_json',
      'We could not parse the JSON body of your request. The API expects a JSON object; check that the body is valid JSON and that Content-Type is application/json.',
    )
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError('invalid_request', 'The request body must be a JSON object.')
  }
  return value as JsonObject
}

const isMessages = (v: unknown) => Array.isArray(v)
const REQUIRED: Record<Operation, Array<[field: string, check: (v: unknown) => boolean, expected: string]>> = {
  chat: [['messages', isMessages, 'an array of messages']],
  embeddings: [['input', (v) => typeof v === 'string' || Array.isArray(v), 'a string or an array']],
  messages: [
    ['messages', isMessages, 'an array of messages'],
    ['max_tokens', (v) => Number.isInteger(v) && (v as number) > 0, 'a positive integer'],
  ],
  count_tokens: [['messages', isMessages, 'an array of messages']],
  // The Responses API may continue from previous_response_id without new input.
  responses: [],
}

/** The fields the gateway itself relies on; everything else is the upstream's business. */
export function checkRequest(body: JsonObject, operation: Operation): { model: string; stream: boolean } {
  const model = body.model
  if (model === undefined || model === null || model === '') {
    throw new GatewayError('invalid_request', 'You must provide a model parameter.', { param: 'model' })
  }
  if (typeof model !== 'string') {
    throw new GatewayError('invalid_request', "Invalid type for 'model': expected a string.", { param: 'model' })
  }
  for (const [field, check, expected] of REQUIRED[operation]) {
    if (body[field] === undefined) {
      throw new GatewayError('invalid_request', `Missing required parameter: '${field}'.`, { param: field })
    }
    if (!check(body[field])) {
      throw new GatewayError('invalid_request', `Invalid type for '${field}': expected ${expected}.`, { param: field })
    }
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    throw new GatewayError('invalid_request', "Invalid type for 'stream': expected a boolean.", { param: 'stream' })
  }
  return { model, stream: body.stream === true }
}

/** Whether a streaming client asked for the usage chunk itself. */
export function clientWantsUsage(body: JsonObject): boolean {
  const options = body.stream_options as { include_usage?: unknown } | undefined
  return options?.include_usage === true
}

/** How the upstream is asked: as the client asked, or streamed/unstreamed on its behalf. */
export type UpstreamShape = 'as_sent' | 'stream_with_usage' | 'no_stream'

/**
 * The body sent upstream: the client's bytes untouched unless the model name must change or the
 * stream options must differ. Unknown fields always pass through.
 */
export function upstreamBody(raw: Uint8Array, body: JsonObject, upstreamModel: string, shape: UpstreamShape): Uint8Array | string {
  const askUsage = shape === 'stream_with_usage' && !(body.stream === true && clientWantsUsage(body))
  if (body.model === upstreamModel && shape !== 'no_stream' && !askUsage) return raw
  const out: JsonObject = { ...body, model: upstreamModel }
  if (shape === 'stream_with_usage') {
    out.stream = true
    out.stream_options = { ...(body.stream_options as JsonObject | undefined), include_usage: true }
  } else if (shape === 'no_stream') {
    delete out.stream
    delete out.stream_options
  }
  return JSON.stringify(out)
}

/**
 * Identifies a conversation for prompt-cache stickiness: the `user` field, a session header, or
 * a hash of the system prompt and first user message (which stay the same as a chat grows).
 */
export function conversationKey(body: JsonObject, sessionId: string | null): string {
  if (typeof body.user === 'string' && body.user) return 'user:' + body.user
  if (sessionId) return 'session:' + sessionId
  const messages = Array.isArray(body.messages) ? (body.messages as JsonObject[]) : []
  const system = messages.filter((m) => m?.role === 'system' || m?.role === 'developer').map((m) => m.content)
  const firstUser = messages.find((m) => m?.role === 'user')?.content
  return 'prompt:' + sha256Hex(JSON.stringify([body.system ?? null, system, firstUser ?? null]))
}
