import { TranslationError, urlFromImageSource, type Dropped, type Json } from './common.ts'

// Anthropic parameters with no OpenAI chat equivalent.
const UNTRANSLATABLE = ['top_k', 'thinking', 'container', 'service_tier', 'inference_geo', 'cache_control', 'mcp_servers', 'context_management']

function systemText(system: unknown): string {
  if (typeof system === 'string') return system
  if (Array.isArray(system)) return system.filter((b) => b?.type === 'text').map((b) => b.text).join('\n\n')
  return ''
}

function toolResultText(content: unknown, dropped: Dropped): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  const parts: string[] = []
  for (const b of content) {
    if (b?.type === 'text') parts.push(b.text)
    else dropped.push(`tool_result content of type ${b?.type}`)
  }
  return parts.join('\n')
}

function userParts(blocks: Json[], dropped: Dropped): Json[] {
  const parts: Json[] = []
  for (const b of blocks) {
    switch (b?.type) {
      case 'text':
        parts.push({ type: 'text', text: b.text })
        break
      case 'image':
        parts.push({ type: 'image_url', image_url: { url: urlFromImageSource(b.source) } })
        break
      case 'document':
        if (b.source?.type === 'base64' && b.source.media_type === 'application/pdf') {
          parts.push({ type: 'file', file: { filename: b.title ?? 'document.pdf', file_data: `data:application/pdf;base64,${b.source.data}` } })
        } else if (b.source?.type === 'text') {
          parts.push({ type: 'text', text: b.source.data })
        } else {
          throw new TranslationError(`A document given as ${b.source?.type ?? 'unknown'} cannot be sent to this provider.`, 'messages')
        }
        break
      case 'thinking':
      case 'redacted_thinking':
        dropped.push(`messages[].content ${b.type}`)
        break
      default:
        throw new TranslationError(`Content of type ${b?.type} cannot be sent to this provider.`, 'messages')
    }
  }
  return parts
}

/** An Anthropic Messages request as an OpenAI chat completions request. */
export function toOpenAIRequest(body: Json): { request: Json; dropped: Dropped } {
  const dropped: Dropped = []
  const messages: Json[] = []
  const system = systemText(body.system)
  if (system) messages.push({ role: 'system', content: system })

  for (const m of (body.messages ?? []) as Json[]) {
    const blocks: Json[] = typeof m?.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m?.content) ? m.content : []
    // Per-turn fields (Claude Code's `output_config` on a message) have no chat equivalent.
    for (const field of Object.keys(m ?? {})) if (field !== 'role' && field !== 'content') dropped.push(`messages[].${field}`)
    if (m?.role === 'system') {
      // Claude Code sends system turns inside the conversation: they stay where they are.
      const text = systemText(blocks)
      if (text) messages.push({ role: 'system', content: text })
    } else if (m?.role === 'user') {
      // Tool results become tool messages, which OpenAI wants right after the assistant's calls.
      for (const r of blocks.filter((b) => b?.type === 'tool_result')) {
        const text = toolResultText(r.content, dropped)
        messages.push({ role: 'tool', tool_call_id: r.tool_use_id, content: r.is_error && text ? `Error: ${text}` : text })
      }
      const parts = userParts(blocks.filter((b) => b?.type !== 'tool_result'), dropped)
      if (parts.length === 0) continue
      const onlyText = parts.every((p) => p.type === 'text')
      messages.push({ role: 'user', content: onlyText ? parts.map((p) => p.text).join('\n') : parts })
    } else if (m?.role === 'assistant') {
      const text = blocks.filter((b) => b?.type === 'text').map((b) => b.text).join('')
      const calls = blocks
        .filter((b) => b?.type === 'tool_use')
        .map((b) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }))
      if (blocks.some((b) => b?.type === 'thinking' || b?.type === 'redacted_thinking')) dropped.push('messages[].content thinking')
      if (!text && calls.length === 0) continue
      messages.push({ role: 'assistant', content: text || null, ...(calls.length > 0 ? { tool_calls: calls } : {}) })
    } else {
      throw new TranslationError(`Messages with role ${m?.role} are not valid here.`, 'messages')
    }
  }

  const request: Json = { model: body.model, messages, max_tokens: body.max_tokens }
  if (body.stream === true) {
    request.stream = true
    request.stream_options = { include_usage: true }
  }
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.top_p = body.top_p
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) request.stop = body.stop_sequences
  if (typeof body.metadata?.user_id === 'string') request.user = body.metadata.user_id

  if (Array.isArray(body.tools) && body.tools.length > 0) {
    const tools: Json[] = []
    for (const t of body.tools as Json[]) {
      // Server tools (web search, code execution, ...) run at Anthropic; nothing to send elsewhere.
      if (t?.type && t.type !== 'custom') {
        dropped.push(`tools[] of type ${t.type}`)
        continue
      }
      tools.push({
        type: 'function',
        function: {
          name: t.name,
          ...(t.description ? { description: t.description } : {}),
          parameters: t.input_schema ?? { type: 'object', properties: {} },
          ...(t.strict !== undefined ? { strict: t.strict } : {}),
        },
      })
    }
    if (tools.length > 0) request.tools = tools
  }
  const choice = body.tool_choice
  if (choice && request.tools) {
    if (choice.type === 'auto') request.tool_choice = 'auto'
    else if (choice.type === 'any') request.tool_choice = 'required'
    else if (choice.type === 'none') request.tool_choice = 'none'
    else if (choice.type === 'tool') request.tool_choice = { type: 'function', function: { name: choice.name } }
    if (choice.disable_parallel_tool_use === true) request.parallel_tool_calls = false
  }
  const format = body.output_config?.format
  if (format?.type === 'json_schema') {
    request.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } }
  }
  // reasoning_effort is refused by many OpenAI-compatible models, so effort is not carried over.
  if (body.output_config?.effort) dropped.push('output_config.effort')

  for (const f of UNTRANSLATABLE) if (body[f] !== undefined && body[f] !== null) dropped.push(f)
  return { request, dropped }
}
