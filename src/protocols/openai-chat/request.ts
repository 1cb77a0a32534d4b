import * as ir from '../ir.ts'
import { sourceFromUrl, urlOfSource } from '../media.ts'
import { splitCallId } from '../signatures.ts'
import { CUSTOM_TOOL_SCHEMA, customArguments, flatToolName } from '../tool-names.ts'
import type { EncodeOptions } from '../types.ts'
import { openaiTextParts } from './text-parts.ts'

type Json = ir.Json

// Chat parameters no other protocol has: dropped (and reported for a debug line).
const UNTRANSLATABLE = [
  'logprobs', 'top_logprobs', 'logit_bias', 'presence_penalty', 'frequency_penalty', 'seed', 'store', 'modalities',
  'audio', 'prediction', 'service_tier', 'web_search_options', 'functions', 'function_call',
]

function textOf(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.filter((p) => p?.type === 'text').map((p) => p.text ?? '').join('')
  return ''
}

function userParts(content: unknown): ir.UserPart[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) return []
  const parts: ir.UserPart[] = []
  for (const part of content as Json[]) {
    switch (part?.type) {
      case 'text':
        if (part.text) parts.push({ type: 'text', text: part.text })
        break
      case 'image_url':
        parts.push({ type: 'image', source: sourceFromUrl(part.image_url?.url ?? ''), ...(part.image_url?.detail ? { detail: part.image_url.detail } : {}) })
        break
      case 'file': {
        const f = part.file ?? {}
        if (typeof f.file_id === 'string') parts.push({ type: 'file', source: { kind: 'file_id', id: f.file_id } })
        else parts.push({ type: 'file', source: sourceFromUrl(f.file_data ?? ''), ...(f.filename ? { filename: f.filename } : {}) })
        break
      }
      default:
        throw new ir.TranslationError(`Message content of type ${part?.type} cannot be sent to this provider.`, 'messages')
    }
  }
  return parts
}

function toolChoiceOf(choice: unknown, dropped: string[]): ir.ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { type: choice }
  const c = choice as Json
  if (c.type === 'function' && c.function?.name) return { type: 'tool', name: c.function.name }
  if (c.type === 'custom' && c.custom?.name) return { type: 'tool', name: c.custom.name }
  dropped.push('tool_choice')
  return undefined
}

function formatOf(format: Json | undefined): ir.OutputFormat | undefined {
  if (!format) return undefined
  if (format.type === 'json_schema' && format.json_schema?.schema) {
    const s = format.json_schema
    return { type: 'json_schema', schema: s.schema, ...(s.name ? { name: s.name } : {}), ...(s.strict !== undefined ? { strict: s.strict } : {}), ...(s.description ? { description: s.description } : {}) }
  }
  if (format.type === 'json_object') return { type: 'json_object' }
  return undefined
}

/** A chat completions request in the internal representation. */
export function decodeRequest(body: Json): ir.Request {
  const dropped: string[] = []
  if (typeof body.n === 'number' && body.n > 1) throw new ir.TranslationError('n > 1 is not supported by this provider.', 'n')
  const messages: ir.Message[] = []
  for (const m of (body.messages ?? []) as Json[]) {
    switch (m?.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content)
        if (text) messages.push({ role: 'system', content: [{ type: 'text', text }] })
        break
      }
      case 'user':
        messages.push({ role: 'user', content: userParts(m.content) })
        break
      case 'assistant': {
        const content: ir.AssistantPart[] = []
        const { reasoning, text } = openaiTextParts(m)
        if (reasoning) content.push({ type: 'reasoning', text: reasoning })
        if (text) content.push({ type: 'text', text })
        for (const call of (m.tool_calls ?? []) as Json[]) {
          const { id, signature } = splitCallId(String(call?.id ?? ''))
          const sig = signature ? { signature } : {}
          if (call?.type === 'custom') content.push({ type: 'tool_call', id, name: call.custom?.name ?? '', input: String(call.custom?.input ?? ''), kind: 'custom', ...sig })
          else content.push({ type: 'tool_call', id, name: call?.function?.name ?? '', input: String(call?.function?.arguments ?? ''), kind: 'function', ...sig })
        }
        messages.push({ role: 'assistant', content })
        break
      }
      case 'tool': {
        const text = typeof m.content === 'string' ? m.content : textOf(m.content)
        messages.push({ role: 'tool', content: [{ type: 'tool_result', callId: splitCallId(String(m.tool_call_id ?? '')).id, content: text ? [{ type: 'text', text }] : [] }] })
        break
      }
      default:
        throw new ir.TranslationError(`Messages with role ${m?.role} cannot be sent to this provider.`, 'messages')
    }
  }

  const tools: ir.Tool[] = []
  for (const t of (Array.isArray(body.tools) ? body.tools : []) as Json[]) {
    if (t?.type === 'custom' && t.custom?.name) {
      tools.push({ kind: 'custom', name: t.custom.name, ...(t.custom.description ? { description: t.custom.description } : {}), ...(t.custom.format ? { format: t.custom.format } : {}) })
    } else if (t?.function?.name) {
      const f = t.function
      tools.push({ kind: 'function', name: f.name, ...(f.description ? { description: f.description } : {}), parameters: f.parameters ?? { type: 'object', properties: {} }, ...(f.strict !== undefined ? { strict: f.strict } : {}) })
    } else dropped.push(`tools[] of type ${t?.type}`)
  }

  const request: ir.Request = { model: String(body.model), messages, tools, stream: body.stream === true, dropped }
  const choice = toolChoiceOf(body.tool_choice, dropped)
  if (choice) request.toolChoice = choice
  if (typeof body.parallel_tool_calls === 'boolean') request.parallelToolCalls = body.parallel_tool_calls
  const max = body.max_completion_tokens ?? body.max_tokens
  if (typeof max === 'number') request.maxOutputTokens = max
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.topP = body.top_p
  if (body.stop !== undefined && body.stop !== null) request.stop = Array.isArray(body.stop) ? body.stop : [body.stop]
  const format = formatOf(body.response_format)
  if (format) request.format = format
  else if (body.response_format && body.response_format.type !== 'text') dropped.push(`response_format ${body.response_format.type}`)
  if (typeof body.reasoning_effort === 'string') request.reasoning = body.reasoning_effort === 'none' ? { disabled: true } : { effort: body.reasoning_effort }
  const user = typeof body.user === 'string' ? body.user : typeof body.safety_identifier === 'string' ? body.safety_identifier : undefined
  if (user) request.user = user
  if (body.metadata && typeof body.metadata === 'object') request.metadata = body.metadata
  if (typeof body.prompt_cache_key === 'string') request.promptCacheKey = body.prompt_cache_key
  if (typeof body.verbosity === 'string') request.verbosity = body.verbosity
  for (const f of UNTRANSLATABLE) if (body[f] !== undefined && body[f] !== null) dropped.push(f)
  return request
}

function userContent(parts: ir.UserPart[], dropped: string[]): string | Json[] {
  if (parts.every((p) => p.type === 'text')) return (parts as ir.TextPart[]).map((p) => p.text).join('\n')
  const out: Json[] = []
  for (const p of parts) {
    if (p.type === 'text') out.push({ type: 'text', text: p.text })
    else if (p.type === 'image') {
      const url = urlOfSource(p.source)
      if (url === null) throw new ir.TranslationError('An image given as a file id cannot be sent to this provider.', 'messages')
      out.push({ type: 'image_url', image_url: { url, ...(p.detail ? { detail: p.detail } : {}) } })
    } else if (p.source.kind === 'text') out.push({ type: 'text', text: p.source.text })
    else if (p.source.kind === 'file_id') out.push({ type: 'file', file: { file_id: p.source.id } })
    else if (p.source.kind === 'base64') out.push({ type: 'file', file: { filename: p.filename ?? 'document.pdf', file_data: urlOfSource(p.source) } })
    else {
      dropped.push('a file given by URL')
      out.push({ type: 'text', text: p.source.url })
    }
  }
  return out
}

function toolResultText(r: ir.ToolResultPart, dropped: string[]): string {
  const texts: string[] = []
  for (const c of r.content) {
    if (c.type === 'text') texts.push(c.text)
    else dropped.push(`tool result content of type ${c.type}`)
  }
  const text = texts.join('\n')
  return r.isError && text ? `Error: ${text}` : text
}

/** The internal representation as a chat completions request. */
export function encodeRequest(request: ir.Request, options: EncodeOptions): Json {
  const dropped = request.dropped
  const messages: Json[] = []
  for (const m of request.messages) {
    switch (m.role) {
      case 'system': {
        const text = m.content.map((p) => p.text).join('\n\n')
        if (text) messages.push({ role: 'system', content: text })
        break
      }
      case 'user':
        if (m.content.length > 0) messages.push({ role: 'user', content: userContent(m.content, dropped) })
        break
      case 'assistant': {
        let text = ''
        const calls: Json[] = []
        for (const p of m.content) {
          if (p.type === 'text') text += p.text
          else if (p.type === 'tool_call') {
            const args = p.kind === 'custom' ? customArguments(p.input) : p.input.trim() ? p.input : '{}'
            calls.push({ id: p.id, type: 'function', function: { name: flatToolName(p.name, p.namespace), arguments: args } })
          } else if (p.type === 'reasoning') dropped.push('messages[].reasoning (no equivalent to replay it)')
        }
        if (!text && calls.length === 0) break
        messages.push({ role: 'assistant', content: text || null, ...(calls.length > 0 ? { tool_calls: calls } : {}) })
        break
      }
      case 'tool':
        for (const r of m.content) messages.push({ role: 'tool', tool_call_id: r.callId, content: toolResultText(r, dropped) })
        break
    }
  }

  const out: Json = { model: options.model, messages }
  if (request.maxOutputTokens !== undefined) out.max_tokens = request.maxOutputTokens
  if (options.stream) {
    out.stream = true
    out.stream_options = { include_usage: true }
  }
  if (request.temperature !== undefined) out.temperature = request.temperature
  if (request.topP !== undefined) out.top_p = request.topP
  if (request.topK !== undefined) dropped.push('top_k')
  if (request.stop && request.stop.length > 0) out.stop = request.stop
  if (request.user) out.user = request.user
  if (request.tools.length > 0) {
    out.tools = request.tools.map((t) => ({
      type: 'function',
      function: {
        name: flatToolName(t.name, t.namespace),
        ...(t.description ? { description: t.description } : {}),
        parameters: t.kind === 'function' ? t.parameters : CUSTOM_TOOL_SCHEMA,
        ...(t.kind === 'function' && t.strict !== undefined ? { strict: t.strict } : {}),
      },
    }))
    const c = request.toolChoice
    if (c) out.tool_choice = c.type === 'tool' ? { type: 'function', function: { name: flatToolName(c.name, c.namespace) } } : c.type
    if (request.parallelToolCalls !== undefined) out.parallel_tool_calls = request.parallelToolCalls
  }
  const f = request.format
  if (f?.type === 'json_schema') {
    out.response_format = { type: 'json_schema', json_schema: { name: f.name ?? 'output', schema: f.schema, ...(f.strict !== undefined ? { strict: f.strict } : {}), ...(f.description ? { description: f.description } : {}) } }
  } else if (f?.type === 'json_object') out.response_format = { type: 'json_object' }
  const effort = request.reasoning?.effort
  if (effort) out.reasoning_effort = effort
  if (request.verbosity) out.verbosity = request.verbosity
  return out
}

