import type { Operation } from '../providers/types.ts'
import { clip, overBytes } from '../lib/clip.ts'
import { sha256Hex } from '../lib/crypto.ts'
import { exceedsDepth } from '../lib/json-depth.ts'
import { GatewayError } from './errors.ts'

export type JsonObject = Record<string, unknown>

/** How deep arrays and objects may nest in a body; real requests stay far below. */
export const MAX_JSON_DEPTH = 128
/** The longest model id accepted, in UTF-8 bytes. */
export const MAX_MODEL_BYTES = 256
/** Longer conversation identifiers (`user`, `x-session-id`) are hashed before they are kept. */
const MAX_CONVERSATION_ID = 256

const decoder = new TextDecoder()

/**
 * Parses a JSON body. JSON.parse itself copes with any depth (its cost is per node, like any
 * body of that size), but what walks the value afterwards recurses, so depth is refused here.
 */
export function parseJson(raw: Uint8Array): unknown {
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(raw))
  } catch {
    throw new GatewayError(
      'invalid_json',
      'We could not parse the JSON body of your request. The API expects a JSON object; check that the body is valid JSON and that Content-Type is application/json.',
    )
  }
  if (exceedsDepth(value, MAX_JSON_DEPTH)) {
    throw new GatewayError('invalid_json', `The JSON body of your request nests deeper than ${MAX_JSON_DEPTH} levels.`)
  }
  return value
}

/** Parses a JSON object body; anything else is a 400 in the API's words. */
export function parseJsonObject(raw: Uint8Array): JsonObject {
  const value = parseJson(raw)
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
  generate_content: [['contents', isMessages, 'an array of contents']],
  gemini_count_tokens: [],
  embed_content: [['content', (v) => !!v && typeof v === 'object', 'a content object']],
  batch_embed_contents: [['requests', isMessages, 'an array of requests']],
  // The Responses API may continue from previous_response_id without new input.
  responses: [],
}

/** The fields the gateway itself relies on; everything else is the upstream's business. */
export function checkRequest(body: JsonObject, operation: Operation, routeModel?: string): { model: string; stream: boolean } {
  // A protocol may name the model in its URL (Gemini) instead of the body.
  const model = routeModel ?? body.model
  if (model === undefined || model === null || model === '') {
    throw new GatewayError('invalid_request', 'You must provide a model parameter.', { param: 'model' })
  }
  if (typeof model !== 'string') {
    throw new GatewayError('invalid_request', "Invalid type for 'model': expected a string.", { param: 'model' })
  }
  if (overBytes(model, MAX_MODEL_BYTES)) {
    // Echoed only in part: the id would otherwise reach the log, the error and the request log whole.
    throw new GatewayError('invalid_request', `The model id \`${clip(model, 64)}\` is longer than ${MAX_MODEL_BYTES} bytes.`, { param: 'model' })
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
  if (typeof body.user === 'string' && body.user) return 'user:' + boundedId(body.user)
  if (sessionId) return 'session:' + boundedId(sessionId)
  const messages = Array.isArray(body.messages) ? (body.messages as JsonObject[]) : []
  const system = messages.filter((m) => m?.role === 'system' || m?.role === 'developer').map((m) => m.content)
  const firstUser = messages.find((m) => m?.role === 'user')?.content
  return 'prompt:' + sha256Hex(JSON.stringify([body.system ?? null, system, firstUser ?? null]))
}

/** A pin is kept per conversation: a long identifier is kept as its hash. */
function boundedId(id: string): string {
  return id.length > MAX_CONVERSATION_ID ? 'sha256:' + sha256Hex(id) : id
}
