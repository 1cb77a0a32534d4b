/** Shared pieces of the OpenAI <-> Anthropic translation. */

export type Json = Record<string, any>

/** A request that the target API cannot express; the client gets a 400 with this message. */
export class TranslationError extends Error {
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message)
  }
}

/** Fields dropped because the target API has no equivalent; reported for a debug log line. */
export type Dropped = string[]

const TOOL_ID = /^[a-zA-Z0-9_-]+$/

/**
 * Anthropic accepts only `[a-zA-Z0-9_-]` in tool ids; other providers emit ids like
 * `functions.Read:0`. The same function is applied to `tool_use.id` and `tool_use_id`, so a call
 * and its result still match after the change.
 */
export function sanitizeToolId(id: unknown): string {
  const text = typeof id === 'string' ? id : ''
  if (TOOL_ID.test(text)) return text
  const cleaned = text.replace(/[^a-zA-Z0-9_-]/g, '_')
  return cleaned || 'toolu_' + Math.random().toString(36).slice(2, 14)
}

export const OPENAI_TO_ANTHROPIC_STOP: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
}

export const ANTHROPIC_TO_OPENAI_STOP: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** Anthropic usage -> OpenAI usage: OpenAI's prompt tokens include cache reads and writes. */
export function anthropicUsageToOpenAI(u: Json | undefined): Json {
  const input = num(u?.input_tokens)
  const read = num(u?.cache_read_input_tokens)
  const write = num(u?.cache_creation_input_tokens)
  const output = num(u?.output_tokens)
  const prompt = input + read + write
  return {
    prompt_tokens: prompt,
    completion_tokens: output,
    total_tokens: prompt + output,
    prompt_tokens_details: { cached_tokens: read, cache_write_tokens: write },
    completion_tokens_details: { reasoning_tokens: num(u?.output_tokens_details?.thinking_tokens) },
  }
}

/** OpenAI usage -> Anthropic usage: Anthropic's input tokens exclude cache reads and writes. */
export function openaiUsageToAnthropic(u: Json | undefined): Json {
  const prompt = num(u?.prompt_tokens)
  const read = num(u?.prompt_tokens_details?.cached_tokens)
  const write = num(u?.prompt_tokens_details?.cache_write_tokens)
  return {
    input_tokens: Math.max(0, prompt - read - write),
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
    output_tokens: num(u?.completion_tokens),
  }
}

const MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp'])

/** An image as an OpenAI `image_url` URL (data: or http) -> an Anthropic image source. */
export function imageSourceFromUrl(url: string): Json {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (data) {
    if (!MEDIA_TYPES.has(data[1]!)) {
      throw new TranslationError(`Image type ${data[1]} is not supported; use JPEG, PNG, GIF or WebP.`, 'messages')
    }
    return { type: 'base64', media_type: data[1], data: data[2] }
  }
  if (/^https?:\/\//.test(url)) return { type: 'url', url }
  throw new TranslationError('An image URL must be an http(s) URL or a base64 data: URL.', 'messages')
}

/** An Anthropic image source -> an OpenAI image URL. */
export function urlFromImageSource(source: Json): string {
  if (source?.type === 'base64') return `data:${source.media_type};base64,${source.data}`
  if (source?.type === 'url') return source.url
  throw new TranslationError(`An image given as ${source?.type ?? 'unknown'} cannot be sent to this provider.`, 'messages')
}

/**
 * The reasoning and the text of an OpenAI-style message or stream delta, whatever dialect carries
 * them: `reasoning_content` (DeepSeek, Qwen, vLLM) or `reasoning` (Groq, OpenRouter) beside the
 * content; `content` as a string, or as parts (Mistral: `text` parts and `thinking` parts whose
 * `thinking` is itself a list of text parts); `refusal` (OpenAI) when there is no other text.
 */
export function openaiTextParts(m: Json): { reasoning: string; text: string } {
  let reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : typeof m.reasoning === 'string' ? m.reasoning : ''
  let text = ''
  if (typeof m.content === 'string') text = m.content
  else if (Array.isArray(m.content)) {
    for (const part of m.content as Json[]) {
      if (part?.type === 'thinking') reasoning += partsText(part.thinking)
      else if (typeof part?.text === 'string') text += part.text
    }
  }
  if (!text && typeof m.refusal === 'string') text = m.refusal
  return { reasoning, text }
}

function partsText(value: unknown): string {
  if (typeof value === 'string') return value
  if (!Array.isArray(value)) return ''
  return (value as Json[]).map((p) => (typeof p?.text === 'string' ? p.text : '')).join('')
}
