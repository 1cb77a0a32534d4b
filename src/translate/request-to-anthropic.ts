import { imageSourceFromUrl, sanitizeToolId, TranslationError, type Dropped, type Json } from './common.ts'

export interface ToAnthropicOptions {
  /** Anthropic requires max_tokens; used when the OpenAI client sent none. */
  defaultMaxTokens: number
}

// OpenAI parameters with no Anthropic equivalent: dropped (and reported for a debug line).
const UNTRANSLATABLE = [
  'logprobs', 'top_logprobs', 'logit_bias', 'presence_penalty', 'frequency_penalty', 'seed', 'store', 'modalities',
  'audio', 'prediction', 'service_tier', 'verbosity', 'web_search_options', 'prompt_cache_key', 'safety_identifier',
  'functions', 'function_call',
]

const EFFORT_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32768, max: 32768 }

/** Anthropic models from 4.6 on want adaptive thinking with an effort; older ones a token budget. */
function adaptiveThinking(model: string): boolean {
  return /claude-(?:opus|sonnet|haiku)-4-(?:[6-9]|\d\d)|claude-(?:opus|sonnet|haiku)-[5-9]/.test(model)
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.filter((p) => p?.type === 'text').map((p) => p.text ?? '').join('')
  return ''
}

function userBlocks(content: unknown): Json[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) return []
  const blocks: Json[] = []
  for (const part of content) {
    switch (part?.type) {
      case 'text':
        // Anthropic rejects empty text blocks.
        if (part.text) blocks.push({ type: 'text', text: part.text })
        break
      case 'image_url':
        blocks.push({ type: 'image', source: imageSourceFromUrl(part.image_url?.url ?? '') })
        break
      case 'file': {
        const data = /^data:application\/pdf;base64,(.*)$/s.exec(part.file?.file_data ?? '')
        if (!data) throw new TranslationError('Only PDF files given as base64 file_data can be sent to this provider.', 'messages')
        blocks.push({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: data[1] } })
        break
      }
      default:
        throw new TranslationError(`Message content of type ${part?.type} cannot be sent to this provider.`, 'messages')
    }
  }
  return blocks
}

function toolInput(args: unknown, dropped: Dropped): Json {
  if (typeof args !== 'string' || args.trim() === '') return {}
  try {
    const parsed = JSON.parse(args)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed
  } catch {
    // fall through
  }
  // A truncated or invalid argument string cannot become an object; the call is kept with {}.
  dropped.push('tool_calls[].function.arguments (not a JSON object)')
  return {}
}

function toolResultContent(content: unknown): string | Json[] {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    const blocks = content.filter((p) => p?.type === 'text' && p.text).map((p) => ({ type: 'text', text: p.text }))
    return blocks.length > 0 ? blocks : ''
  }
  return ''
}

/** Appends blocks to the conversation, merging into the last message when the role repeats. */
function push(messages: Json[], role: 'user' | 'assistant', blocks: Json[]): void {
  if (blocks.length === 0) return
  const last = messages.at(-1)
  if (last && last.role === role) last.content.push(...blocks)
  else messages.push({ role, content: blocks })
}

/** An OpenAI chat completions request as an Anthropic Messages request. */
export function toAnthropicRequest(body: Json, options: ToAnthropicOptions): { request: Json; dropped: Dropped } {
  const dropped: Dropped = []
  if (typeof body.n === 'number' && body.n > 1) throw new TranslationError('n > 1 is not supported by this provider.', 'n')
  const system: Json[] = []
  const messages: Json[] = []
  for (const m of (body.messages ?? []) as Json[]) {
    switch (m?.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content)
        if (text) system.push({ type: 'text', text })
        break
      }
      case 'user':
        push(messages, 'user', userBlocks(m.content))
        break
      case 'assistant': {
        const blocks: Json[] = []
        const text = textOf(m.content)
        if (text) blocks.push({ type: 'text', text })
        for (const call of (m.tool_calls ?? []) as Json[]) {
          blocks.push({ type: 'tool_use', id: sanitizeToolId(call.id), name: call.function?.name ?? '', input: toolInput(call.function?.arguments, dropped) })
        }
        if (m.reasoning_content) dropped.push('messages[].reasoning_content (no signature to replay it)')
        push(messages, 'assistant', blocks)
        break
      }
      case 'tool': {
        // Consecutive tool results become one user message, results first.
        const result = { type: 'tool_result', tool_use_id: sanitizeToolId(m.tool_call_id), content: toolResultContent(m.content) }
        const last = messages.at(-1)
        if (last?.role === 'user') {
          const firstOther = last.content.findIndex((b: Json) => b.type !== 'tool_result')
          if (firstOther < 0) last.content.push(result)
          else last.content.splice(firstOther, 0, result)
        } else {
          messages.push({ role: 'user', content: [result] })
        }
        break
      }
      default:
        throw new TranslationError(`Messages with role ${m?.role} cannot be sent to this provider.`, 'messages')
    }
  }

  const request: Json = {
    model: body.model,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? options.defaultMaxTokens,
    messages,
  }
  if (system.length > 0) request.system = system
  if (body.stream === true) request.stream = true
  if (body.stop !== undefined && body.stop !== null) request.stop_sequences = Array.isArray(body.stop) ? body.stop : [body.stop]
  if (typeof body.user === 'string') request.metadata = { user_id: body.user }
  if (typeof body.top_p === 'number') request.top_p = body.top_p
  if (typeof body.temperature === 'number') {
    // OpenAI allows 0-2, Anthropic 0-1.
    request.temperature = Math.min(1, Math.max(0, body.temperature))
    // Anthropic rejects a request that sets both temperature and top_p; keep temperature.
    if (request.top_p !== undefined) {
      delete request.top_p
      dropped.push('top_p (with temperature)')
    }
  }

  if (Array.isArray(body.tools) && body.tools.length > 0) {
    request.tools = (body.tools as Json[])
      .filter((t) => t?.type === 'function' || t?.function)
      .map((t) => ({
        name: t.function.name,
        ...(t.function.description ? { description: t.function.description } : {}),
        input_schema: t.function.parameters ?? { type: 'object', properties: {} },
        ...(t.function.strict !== undefined ? { strict: t.function.strict } : {}),
      }))
  }
  const choice = body.tool_choice
  if (choice !== undefined && choice !== null) {
    if (choice === 'auto') request.tool_choice = { type: 'auto' }
    else if (choice === 'required') request.tool_choice = { type: 'any' }
    else if (choice === 'none') request.tool_choice = { type: 'none' }
    else if (choice?.type === 'function') request.tool_choice = { type: 'tool', name: choice.function?.name }
    else dropped.push('tool_choice')
  }
  if (body.parallel_tool_calls === false && request.tools) {
    request.tool_choice = { ...(request.tool_choice ?? { type: 'auto' }), disable_parallel_tool_use: true }
  }

  const effort = body.reasoning_effort
  if (typeof effort === 'string' && effort !== 'none') {
    if (adaptiveThinking(String(body.model))) {
      request.thinking = { type: 'adaptive' }
      request.output_config = { effort: effort === 'minimal' ? 'low' : effort }
    } else {
      const budget = Math.min(EFFORT_BUDGET[effort] ?? 8192, Math.max(1024, request.max_tokens - 1))
      request.thinking = { type: 'enabled', budget_tokens: budget }
      if (request.max_tokens <= budget) request.max_tokens = budget + 1024
    }
    // Anthropic refuses sampling changes with thinking on.
    for (const f of ['temperature', 'top_p'] as const) {
      if (request[f] !== undefined) {
        delete request[f]
        dropped.push(`${f} (with reasoning)`)
      }
    }
  }

  const format = body.response_format
  if (format?.type === 'json_schema' && format.json_schema?.schema) {
    request.output_config = { ...request.output_config, format: { type: 'json_schema', schema: format.json_schema.schema } }
  } else if (format && format.type !== 'text') {
    dropped.push(`response_format ${format.type}`)
  }

  for (const f of UNTRANSLATABLE) if (body[f] !== undefined && body[f] !== null) dropped.push(f)
  return { request, dropped }
}
