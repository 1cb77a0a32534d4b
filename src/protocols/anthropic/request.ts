import * as ir from '../ir.ts'
import { argumentsObject, sanitizeToolId } from '../media.ts'
import { splitCallId, unpackSignature, validFor } from '../signatures.ts'
import { CUSTOM_TOOL_SCHEMA, flatToolName } from '../tool-names.ts'
import type { EncodeOptions } from '../types.ts'

type Json = ir.Json

export const ANTHROPIC = 'anthropic'

// Messages parameters no other protocol has.
const UNTRANSLATABLE = ['container', 'service_tier', 'inference_geo', 'mcp_servers', 'context_management']

const EFFORT_BUDGET: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32768, max: 32768 }

/** Anthropic models from 4.6 on want adaptive thinking with an effort; older ones a token budget. */
function adaptiveThinking(model: string): boolean {
  return /claude-(?:opus|sonnet|haiku)-4-(?:[6-9]|\d\d)|claude-(?:opus|sonnet|haiku)-[5-9]/.test(model)
}

function textBlocks(content: unknown): ir.TextPart[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) return []
  return (content as Json[])
    .filter((b) => b?.type === 'text' && b.text)
    .map((b) => ({ type: 'text', text: b.text, ...(b.cache_control ? { cache: true } : {}) }))
}

function imageSource(source: Json): ir.ImagePart['source'] {
  if (source?.type === 'base64') return { kind: 'base64', mediaType: source.media_type, data: source.data }
  if (source?.type === 'url') return { kind: 'url', url: source.url }
  if (source?.type === 'file') return { kind: 'file_id', id: source.file_id }
  throw new ir.TranslationError(`An image given as ${source?.type ?? 'unknown'} cannot be sent to this provider.`, 'messages')
}

function documentPart(b: Json): ir.FilePart {
  const s = b.source ?? {}
  const filename = typeof b.title === 'string' ? { filename: b.title } : {}
  if (s.type === 'base64') return { type: 'file', source: { kind: 'base64', mediaType: s.media_type, data: s.data }, ...filename }
  if (s.type === 'text') return { type: 'file', source: { kind: 'text', text: s.data }, ...filename }
  if (s.type === 'url') return { type: 'file', source: { kind: 'url', url: s.url }, ...filename }
  if (s.type === 'file') return { type: 'file', source: { kind: 'file_id', id: s.file_id }, ...filename }
  throw new ir.TranslationError(`A document given as ${s.type ?? 'unknown'} cannot be sent to this provider.`, 'messages')
}

function userPart(b: Json, dropped: string[]): ir.UserPart | null {
  switch (b?.type) {
    case 'text':
      return b.text ? { type: 'text', text: b.text, ...(b.cache_control ? { cache: true } : {}) } : null
    case 'image':
      return { type: 'image', source: imageSource(b.source) }
    case 'document':
      return documentPart(b)
    case 'thinking':
    case 'redacted_thinking':
      dropped.push(`messages[].content ${b.type}`)
      return null
    default:
      throw new ir.TranslationError(`Content of type ${b?.type} cannot be sent to this provider.`, 'messages')
  }
}

function toolResult(b: Json, dropped: string[]): ir.ToolResultPart {
  const content: ir.ToolResultPart['content'] = []
  if (typeof b.content === 'string') {
    if (b.content) content.push({ type: 'text', text: b.content })
  } else if (Array.isArray(b.content)) {
    for (const c of b.content as Json[]) {
      const part = userPart(c, dropped)
      if (part) content.push(part)
    }
  }
  return { type: 'tool_result', callId: splitCallId(String(b.tool_use_id ?? '')).id, content, ...(b.is_error === true ? { isError: true } : {}) }
}

/** A thinking block's signature: one the gateway packed says where it came from; any other is Anthropic's own. */
function signatureOf(text: unknown): ir.ReasoningPart['signature'] | undefined {
  if (typeof text !== 'string' || !text) return undefined
  const carried = unpackSignature(text)
  if (carried) return carried
  return { origin: { protocol: ANTHROPIC }, value: text }
}

const TOOL_USE_FIELDS = new Set(['type', 'id', 'name', 'input'])

/** A Messages request in the internal representation. */
export function decodeRequest(body: Json): ir.Request {
  const dropped: string[] = []
  const messages: ir.Message[] = []
  const system = textBlocks(body.system)
  if (system.length > 0) messages.push({ role: 'system', content: system })

  for (const m of (body.messages ?? []) as Json[]) {
    const blocks: Json[] = typeof m?.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m?.content) ? m.content : []
    // Per-turn fields (Claude Code's `output_config` on a message) have no equivalent elsewhere.
    for (const field of Object.keys(m ?? {})) if (field !== 'role' && field !== 'content') dropped.push(`messages[].${field}`)
    if (m?.role === 'system') {
      // Claude Code sends system turns inside the conversation: they stay where they are.
      const text = textBlocks(blocks)
      if (text.length > 0) messages.push({ role: 'system', content: text })
    } else if (m?.role === 'user') {
      const results = blocks.filter((b) => b?.type === 'tool_result').map((b) => toolResult(b, dropped))
      if (results.length > 0) messages.push({ role: 'tool', content: results })
      const parts = blocks.filter((b) => b?.type !== 'tool_result').map((b) => userPart(b, dropped)).filter((p): p is ir.UserPart => p !== null)
      if (parts.length > 0) messages.push({ role: 'user', content: parts })
    } else if (m?.role === 'assistant') {
      const content: ir.AssistantPart[] = []
      for (const b of blocks) {
        if (b?.type === 'text') {
          if (b.text) content.push({ type: 'text', text: b.text })
        } else if (b?.type === 'thinking') {
          const signature = signatureOf(b.signature)
          content.push({ type: 'reasoning', text: String(b.thinking ?? ''), ...(signature ? { signature } : {}) })
        } else if (b?.type === 'redacted_thinking') {
          content.push({ type: 'reasoning', text: '', redacted: String(b.data ?? ''), signature: { origin: { protocol: ANTHROPIC }, value: '' } })
        } else if (b?.type === 'tool_use') {
          const fields: Json = {}
          for (const [k, v] of Object.entries(b)) if (!TOOL_USE_FIELDS.has(k)) fields[k] = v
          const { id, signature } = splitCallId(String(b.id ?? ''))
          content.push({
            type: 'tool_call', id, name: String(b.name ?? ''), input: JSON.stringify(b.input ?? {}), kind: 'function',
            ...(Object.keys(fields).length > 0 ? { extra: { origin: { protocol: ANTHROPIC }, fields } } : {}),
            ...(signature ? { signature } : {}),
          })
        } else dropped.push(`messages[].content ${b?.type}`)
      }
      messages.push({ role: 'assistant', content })
    } else {
      throw new ir.TranslationError(`Messages with role ${m?.role} are not valid here.`, 'messages')
    }
  }

  const tools: ir.Tool[] = []
  for (const t of (Array.isArray(body.tools) ? body.tools : []) as Json[]) {
    // Server tools (web search, code execution, ...) run at Anthropic; nothing to send elsewhere.
    if (t?.type && t.type !== 'custom') {
      dropped.push(`tools[] of type ${t.type}`)
      continue
    }
    tools.push({ kind: 'function', name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema ?? { type: 'object', properties: {} }, ...(t.strict !== undefined ? { strict: t.strict } : {}) })
  }

  const request: ir.Request = { model: String(body.model), messages, tools, stream: body.stream === true, dropped }
  if (typeof body.max_tokens === 'number') request.maxOutputTokens = body.max_tokens
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.topP = body.top_p
  if (typeof body.top_k === 'number') request.topK = body.top_k
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) request.stop = body.stop_sequences
  if (typeof body.metadata?.user_id === 'string') request.user = body.metadata.user_id
  const choice = body.tool_choice
  if (choice && tools.length > 0) {
    if (choice.type === 'auto') request.toolChoice = { type: 'auto' }
    else if (choice.type === 'any') request.toolChoice = { type: 'required' }
    else if (choice.type === 'none') request.toolChoice = { type: 'none' }
    else if (choice.type === 'tool') request.toolChoice = { type: 'tool', name: choice.name }
    if (choice.disable_parallel_tool_use === true) request.parallelToolCalls = false
  }
  const thinking = body.thinking
  if (thinking?.type === 'enabled' && typeof thinking.budget_tokens === 'number') request.reasoning = { budgetTokens: thinking.budget_tokens }
  else if (thinking?.type === 'disabled') request.reasoning = { disabled: true }
  else if (thinking?.type === 'adaptive') request.reasoning = {}
  // reasoning_effort is refused by many OpenAI-compatible models, so Anthropic's effort is not carried over.
  if (body.output_config?.effort) dropped.push('output_config.effort')
  const format = body.output_config?.format
  if (format?.type === 'json_schema' && format.schema) request.format = { type: 'json_schema', schema: format.schema }
  for (const f of UNTRANSLATABLE) if (body[f] !== undefined && body[f] !== null) dropped.push(f)
  if (body.cache_control !== undefined) dropped.push('cache_control')
  return request
}

const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp'])

function mediaBlock(p: ir.UserPart, dropped: string[]): Json | null {
  if (p.type === 'text') return p.text ? { type: 'text', text: p.text, ...(p.cache ? { cache_control: { type: 'ephemeral' } } : {}) } : null
  if (p.type === 'image') {
    if (p.source.kind === 'base64' && !IMAGE_TYPES.has(p.source.mediaType)) {
      throw new ir.TranslationError(`Image type ${p.source.mediaType} is not supported; use JPEG, PNG, GIF or WebP.`, 'messages')
    }
    if (p.source.kind === 'base64') return { type: 'image', source: { type: 'base64', media_type: p.source.mediaType, data: p.source.data } }
    if (p.source.kind === 'url') return { type: 'image', source: { type: 'url', url: p.source.url } }
    throw new ir.TranslationError('An image given as a file id cannot be sent to this provider.', 'messages')
  }
  const title = p.filename ? { title: p.filename } : {}
  switch (p.source.kind) {
    case 'base64':
      if (p.source.mediaType === 'application/pdf') return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: p.source.data }, ...title }
      if (p.source.mediaType.startsWith('text/')) return { type: 'document', source: { type: 'text', media_type: 'text/plain', data: Buffer.from(p.source.data, 'base64').toString() }, ...title }
      throw new ir.TranslationError(`Files of type ${p.source.mediaType} cannot be sent to this provider; use PDF or text.`, 'messages')
    case 'text':
      return { type: 'document', source: { type: 'text', media_type: 'text/plain', data: p.source.text }, ...title }
    case 'url':
      return { type: 'document', source: { type: 'url', url: p.source.url }, ...title }
    default:
      dropped.push('a file given by id')
      return null
  }
}

/** Appends blocks to the conversation, merging into the last message when the role repeats. */
function push(messages: Json[], role: 'user' | 'assistant', blocks: Json[]): void {
  if (blocks.length === 0) return
  const last = messages.at(-1)
  if (last && last.role === role) last.content.push(...blocks)
  else messages.push({ role, content: blocks })
}

/** The internal representation as a Messages request. */
export function encodeRequest(request: ir.Request, options: EncodeOptions): Json {
  const dropped = request.dropped
  const system: Json[] = []
  const messages: Json[] = []
  for (const m of request.messages) {
    switch (m.role) {
      case 'system':
        // Anthropic has one system prompt: system turns from anywhere in the conversation join it, in order.
        for (const p of m.content) if (p.text) system.push({ type: 'text', text: p.text, ...(p.cache ? { cache_control: { type: 'ephemeral' } } : {}) })
        break
      case 'user':
        push(messages, 'user', m.content.map((p) => mediaBlock(p, dropped)).filter((b): b is Json => b !== null))
        break
      case 'assistant': {
        const blocks: Json[] = []
        for (const p of m.content) {
          if (p.type === 'text') {
            if (p.text) blocks.push({ type: 'text', text: p.text })
          } else if (p.type === 'reasoning') {
            // Anthropic rejects thinking it did not sign: only its own goes back.
            const sig = p.signature
            if (!sig || !validFor(sig.origin, ANTHROPIC, options.provider)) {
              if (p.text) dropped.push('reasoning from another provider')
              continue
            }
            if (p.redacted !== undefined) blocks.push({ type: 'redacted_thinking', data: p.redacted })
            else blocks.push({ type: 'thinking', thinking: p.text, signature: sig.value })
          } else if (p.type === 'tool_call') {
            const extra = p.extra && p.extra.origin.protocol === ANTHROPIC ? p.extra.fields : {}
            const input = p.kind === 'custom' ? { input: p.input } : argumentsObject(p.input, () => dropped.push('tool call arguments (not a JSON object)'))
            blocks.push({ type: 'tool_use', id: sanitizeToolId(p.id), name: flatToolName(p.name, p.namespace), input, ...extra })
          } else if (p.type === 'refusal' && p.text) blocks.push({ type: 'text', text: p.text })
        }
        push(messages, 'assistant', blocks)
        break
      }
      case 'tool': {
        const results = m.content.map((r) => {
          const content = r.content.map((p) => mediaBlock(p, dropped)).filter((b): b is Json => b !== null)
          return { type: 'tool_result', tool_use_id: sanitizeToolId(r.callId), content: content.length === 1 && content[0]!.type === 'text' ? content[0]!.text : content, ...(r.isError ? { is_error: true } : {}) }
        })
        // Tool results go first in their user message.
        const last = messages.at(-1)
        if (last?.role === 'user') {
          const firstOther = last.content.findIndex((b: Json) => b.type !== 'tool_result')
          if (firstOther < 0) last.content.push(...results)
          else last.content.splice(firstOther, 0, ...results)
        } else messages.push({ role: 'user', content: results })
        break
      }
    }
  }

  const out: Json = { model: options.model, max_tokens: request.maxOutputTokens ?? options.defaultMaxTokens, messages }
  if (system.length > 0) out.system = system
  if (options.stream) out.stream = true
  if (request.stop && request.stop.length > 0) out.stop_sequences = request.stop
  if (request.user) out.metadata = { user_id: request.user }
  if (request.topP !== undefined) out.top_p = request.topP
  if (request.topK !== undefined) out.top_k = request.topK
  if (request.temperature !== undefined) {
    // OpenAI allows 0-2, Anthropic 0-1.
    out.temperature = Math.min(1, Math.max(0, request.temperature))
    // Anthropic rejects a request that sets both temperature and top_p; keep temperature.
    if (out.top_p !== undefined) {
      delete out.top_p
      dropped.push('top_p (with temperature)')
    }
  }
  if (request.tools.length > 0) {
    out.tools = request.tools.map((t) => ({
      name: flatToolName(t.name, t.namespace),
      ...(t.description ? { description: t.description } : {}),
      input_schema: t.kind === 'function' ? t.parameters : CUSTOM_TOOL_SCHEMA,
      ...(t.kind === 'function' && t.strict !== undefined ? { strict: t.strict } : {}),
    }))
    const c = request.toolChoice
    if (c) out.tool_choice = c.type === 'tool' ? { type: 'tool', name: flatToolName(c.name, c.namespace) } : { type: c.type === 'required' ? 'any' : c.type }
    if (request.parallelToolCalls === false) out.tool_choice = { ...(out.tool_choice ?? { type: 'auto' }), disable_parallel_tool_use: true }
  }

  const r = request.reasoning
  const effort = r?.effort
  if (r && !r.disabled && (r.budgetTokens !== undefined || (effort !== undefined && effort !== 'none'))) {
    if (effort && adaptiveThinking(options.model)) {
      out.thinking = { type: 'adaptive' }
      out.output_config = { effort: effort === 'minimal' ? 'low' : effort }
    } else {
      const wanted = r.budgetTokens ?? EFFORT_BUDGET[effort!] ?? 8192
      const budget = Math.min(wanted, Math.max(1024, out.max_tokens - 1))
      out.thinking = { type: 'enabled', budget_tokens: budget }
      if (out.max_tokens <= budget) out.max_tokens = budget + 1024
    }
    // Anthropic refuses sampling changes with thinking on.
    for (const f of ['temperature', 'top_p', 'top_k'] as const) {
      if (out[f] !== undefined) {
        delete out[f]
        dropped.push(`${f} (with reasoning)`)
      }
    }
  }
  const f = request.format
  if (f?.type === 'json_schema') out.output_config = { ...out.output_config, format: { type: 'json_schema', schema: f.schema } }
  else if (f?.type === 'json_object') dropped.push('response_format json_object')
  if (request.metadata) dropped.push('metadata')
  return out
}

