import * as ir from '../ir.ts'
import { sourceFromUrl, urlOfSource } from '../media.ts'
import { splitCallId, validFor } from '../signatures.ts'
import { reasoningFromItem } from './response.ts'
import { flatToolName } from '../tool-names.ts'
import type { EncodeOptions } from '../types.ts'

type Json = ir.Json

export const RESPONSES = 'openai-responses'

// Request fields that only mean something to a Responses upstream: dropped when translating.
const UNTRANSLATABLE = ['store', 'truncation', 'client_metadata', 'service_tier', 'prompt_cache_retention', 'top_logprobs', 'background', 'max_tool_calls', 'prompt', 'stream_options']

function contentParts(content: unknown, param: string): Array<ir.UserPart | ir.RefusalPart> {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : []
  if (!Array.isArray(content)) return []
  const parts: Array<ir.UserPart | ir.RefusalPart> = []
  for (const p of content as Json[]) {
    switch (p?.type) {
      case 'input_text':
      case 'output_text':
      case 'text':
        if (p.text) parts.push({ type: 'text', text: String(p.text) })
        break
      case 'refusal':
        if (p.refusal) parts.push({ type: 'refusal', text: String(p.refusal) })
        break
      case 'input_image':
        if (typeof p.image_url === 'string') parts.push({ type: 'image', source: sourceFromUrl(p.image_url), ...(p.detail ? { detail: p.detail } : {}) })
        else if (typeof p.file_id === 'string') parts.push({ type: 'image', source: { kind: 'file_id', id: p.file_id } })
        else throw new ir.TranslationError('An input_image needs an image_url or a file_id.', param)
        break
      case 'input_file': {
        const filename = typeof p.filename === 'string' ? { filename: p.filename } : {}
        if (typeof p.file_data === 'string') {
          // file_data is a data: URL, or bare base64 with the type told by the file name.
          const source = p.file_data.startsWith('data:') ? sourceFromUrl(p.file_data) : { kind: 'base64' as const, mediaType: mediaTypeOf(p.filename), data: p.file_data }
          parts.push({ type: 'file', source, ...filename })
        } else if (typeof p.file_url === 'string') parts.push({ type: 'file', source: { kind: 'url', url: p.file_url }, ...filename })
        else if (typeof p.file_id === 'string') parts.push({ type: 'file', source: { kind: 'file_id', id: p.file_id }, ...filename })
        else throw new ir.TranslationError('An input_file needs file_data, file_url or a file_id.', param)
        break
      }
      default:
        throw new ir.TranslationError(`Content of type ${p?.type} cannot be sent to this provider.`, param)
    }
  }
  return parts
}

function mediaTypeOf(filename: unknown): string {
  const name = typeof filename === 'string' ? filename.toLowerCase() : ''
  if (name.endsWith('.pdf')) return 'application/pdf'
  if (name.endsWith('.txt') || name.endsWith('.md')) return 'text/plain'
  return 'application/pdf'
}

function toolOutput(output: unknown, param: string): ir.ToolResultPart['content'] {
  if (typeof output === 'string') return output ? [{ type: 'text', text: output }] : []
  return contentParts(output, param).filter((p): p is ir.UserPart => p.type !== 'refusal')
}

/** Adds parts to the conversation: consecutive assistant output (text, reasoning, calls) is one assistant message. */
function addAssistant(messages: ir.Message[], parts: ir.AssistantPart[]): void {
  const last = messages.at(-1)
  if (last?.role === 'assistant') last.content.push(...parts)
  else messages.push({ role: 'assistant', content: parts })
}

function addToolResult(messages: ir.Message[], result: ir.ToolResultPart): void {
  const last = messages.at(-1)
  if (last?.role === 'tool') last.content.push(result)
  else messages.push({ role: 'tool', content: [result] })
}

function decodeTools(tools: unknown, dropped: string[]): ir.Tool[] {
  const out: ir.Tool[] = []
  const add = (t: Json, namespace?: string) => {
    const ns = namespace ? { namespace } : {}
    if (t?.type === 'function' && t.name) {
      out.push({ kind: 'function', name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters ?? { type: 'object', properties: {} }, ...(t.strict !== undefined && t.strict !== null ? { strict: t.strict } : {}), ...ns })
    } else if (t?.type === 'custom' && t.name) {
      out.push({ kind: 'custom', name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.format ? { format: t.format } : {}), ...ns })
    } else if (t?.type === 'namespace' && !namespace && Array.isArray(t.tools)) {
      for (const inner of t.tools as Json[]) add(inner, String(t.name ?? ''))
    } else {
      // Built-in tools (web search, file search, ...) run at OpenAI; nothing to send elsewhere.
      dropped.push(`tools[] of type ${t?.type}`)
    }
  }
  for (const t of (Array.isArray(tools) ? tools : []) as Json[]) add(t)
  return out
}

function decodeToolChoice(choice: unknown, dropped: string[]): ir.ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined
  if (choice === 'auto' || choice === 'none' || choice === 'required') return { type: choice }
  const c = choice as Json
  if ((c.type === 'function' || c.type === 'custom') && c.name) return { type: 'tool', name: c.name, ...(c.namespace ? { namespace: c.namespace } : {}) }
  if (c.type === 'allowed_tools') {
    dropped.push('tool_choice.allowed_tools (the list)')
    return { type: c.mode === 'required' ? 'required' : 'auto' }
  }
  dropped.push(`tool_choice of type ${c.type}`)
  return undefined
}

/** A Responses request in the internal representation. State (`previous_response_id`) is resolved before. */
export function decodeRequest(body: Json): ir.Request {
  const dropped: string[] = []
  if (body.previous_response_id || body.conversation) {
    const field = body.previous_response_id ? 'previous_response_id' : 'conversation'
    const id = String(body.previous_response_id ?? '')
    throw new ir.TranslationError(
      body.previous_response_id
        ? `Previous response with id '${id.slice(0, 80)}' not found. This provider keeps no state, and the gateway keeps a response only when it was created with this key and store was not false.`
        : 'conversation cannot be used with this provider: send the whole conversation in input.',
      field,
    )
  }
  const messages: ir.Message[] = []
  if (typeof body.instructions === 'string' && body.instructions) messages.push({ role: 'system', content: [{ type: 'text', text: body.instructions }] })
  const input: Json[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : []
  input.forEach((item, i) => {
    const param = `input[${i}]`
    const type = item?.type ?? (item?.role ? 'message' : undefined)
    switch (type) {
      case 'message': {
        const parts = contentParts(item.content, param)
        if (item.role === 'system' || item.role === 'developer') {
          const text = parts.filter((p): p is ir.TextPart => p.type === 'text')
          if (text.length > 0) messages.push({ role: 'system', content: text })
        } else if (item.role === 'assistant') {
          addAssistant(messages, parts.filter((p): p is ir.TextPart | ir.RefusalPart => p.type === 'text' || p.type === 'refusal'))
        } else if (item.role === 'user') {
          const user = parts.filter((p): p is ir.UserPart => p.type !== 'refusal')
          if (user.length > 0) messages.push({ role: 'user', content: user })
        } else throw new ir.TranslationError(`Messages with role ${item.role} are not valid here.`, param)
        break
      }
      case 'function_call':
      case 'custom_tool_call': {
        const custom = type === 'custom_tool_call'
        const { id, signature } = splitCallId(String(item.call_id ?? item.id ?? ''))
        addAssistant(messages, [{
          type: 'tool_call', id, ...(signature ? { signature } : {}), name: String(item.name ?? ''),
          input: String((custom ? item.input : item.arguments) ?? ''), kind: custom ? 'custom' : 'function',
          ...(item.namespace ? { namespace: String(item.namespace) } : {}),
        }])
        break
      }
      case 'function_call_output':
      case 'custom_tool_call_output':
        addToolResult(messages, { type: 'tool_result', callId: splitCallId(String(item.call_id ?? '')).id, content: toolOutput(item.output, param), kind: type === 'custom_tool_call_output' ? 'custom' : 'function' })
        break
      case 'reasoning':
        addAssistant(messages, [reasoningFromItem(item)])
        break
      default:
        dropped.push(`input items of type ${type}`)
    }
  })

  const tools = decodeTools(body.tools, dropped)
  const request: ir.Request = { model: String(body.model), messages, tools, stream: body.stream === true, dropped }
  const choice = decodeToolChoice(body.tool_choice, dropped)
  if (choice && tools.length > 0) request.toolChoice = choice
  if (typeof body.parallel_tool_calls === 'boolean') request.parallelToolCalls = body.parallel_tool_calls
  if (typeof body.max_output_tokens === 'number') request.maxOutputTokens = body.max_output_tokens
  if (typeof body.temperature === 'number') request.temperature = body.temperature
  if (typeof body.top_p === 'number') request.topP = body.top_p
  const format = body.text?.format
  if (format?.type === 'json_schema' && format.schema) {
    request.format = { type: 'json_schema', schema: format.schema, ...(format.name ? { name: format.name } : {}), ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}), ...(format.description ? { description: format.description } : {}) }
  } else if (format?.type === 'json_object') request.format = { type: 'json_object' }
  if (typeof body.text?.verbosity === 'string') request.verbosity = body.text.verbosity
  const r = body.reasoning
  if (r && typeof r === 'object') {
    request.reasoning = r.effort === 'none' ? { disabled: true } : { ...(typeof r.effort === 'string' ? { effort: r.effort } : {}), ...(typeof r.summary === 'string' ? { summary: r.summary } : {}) }
  }
  if (Array.isArray(body.include) && body.include.includes('reasoning.encrypted_content')) request.includeEncryptedReasoning = true
  const user = typeof body.safety_identifier === 'string' ? body.safety_identifier : typeof body.user === 'string' ? body.user : undefined
  if (user) request.user = user
  if (body.metadata && typeof body.metadata === 'object') request.metadata = body.metadata
  if (typeof body.prompt_cache_key === 'string') request.promptCacheKey = body.prompt_cache_key
  for (const f of UNTRANSLATABLE) if (body[f] !== undefined && body[f] !== null) dropped.push(f)
  return request
}

function inputContent(parts: ir.UserPart[]): Json[] {
  return parts.map((p) => {
    if (p.type === 'text') return { type: 'input_text', text: p.text }
    if (p.type === 'image') {
      if (p.source.kind === 'file_id') return { type: 'input_image', file_id: p.source.id, detail: p.detail ?? 'auto' }
      return { type: 'input_image', image_url: urlOfSource(p.source), detail: p.detail ?? 'auto' }
    }
    const name = p.filename ? { filename: p.filename } : {}
    switch (p.source.kind) {
      case 'base64':
        return { type: 'input_file', file_data: urlOfSource(p.source), filename: p.filename ?? 'document.pdf' }
      case 'url':
        return { type: 'input_file', file_url: p.source.url, ...name }
      case 'file_id':
        return { type: 'input_file', file_id: p.source.id, ...name }
      case 'text':
        return { type: 'input_text', text: p.source.text }
    }
  })
}

/** The internal representation as a Responses request, stateless (`store: false`). */
export function encodeRequest(request: ir.Request, options: EncodeOptions): Json {
  const dropped = request.dropped
  const input: Json[] = []
  let instructions = ''
  let leading = true
  for (const m of request.messages) {
    if (m.role !== 'system') leading = false
    switch (m.role) {
      case 'system': {
        const text = m.content.map((p) => p.text).join('\n\n')
        if (!text) break
        if (leading) instructions += (instructions ? '\n\n' : '') + text
        else input.push({ role: 'developer', content: text })
        break
      }
      case 'user':
        if (m.content.length > 0) input.push({ role: 'user', content: inputContent(m.content) })
        break
      case 'assistant':
        for (const p of m.content) {
          if (p.type === 'text' && p.text) input.push({ role: 'assistant', content: p.text })
          else if (p.type === 'refusal') input.push({ type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: p.text }] })
          else if (p.type === 'reasoning') {
            // Encrypted reasoning is only valid on the account that made it.
            const sig = p.signature
            if (sig && sig.id && validFor(sig.origin, RESPONSES, options.provider)) {
              input.push({ type: 'reasoning', id: sig.id, summary: p.text ? [{ type: 'summary_text', text: p.text }] : [], encrypted_content: sig.value })
            } else if (p.text) dropped.push('reasoning from another provider')
          } else if (p.type === 'tool_call') {
            if (p.kind === 'custom') input.push({ type: 'custom_tool_call', call_id: p.id, name: p.name, input: p.input })
            else input.push({ type: 'function_call', call_id: p.id, name: flatToolName(p.name, p.namespace), arguments: p.input.trim() ? p.input : '{}' })
          }
        }
        break
      case 'tool':
        for (const r of m.content) {
          const onlyText = r.content.every((c) => c.type === 'text')
          const text = (r.content as ir.TextPart[]).map((c) => c.text).join('\n')
          const output = onlyText ? (r.isError && text ? `Error: ${text}` : text) : inputContent(r.content)
          input.push({ type: r.kind === 'custom' ? 'custom_tool_call_output' : 'function_call_output', call_id: r.callId, output })
        }
        break
    }
  }

  const out: Json = { model: options.model, input, store: false }
  if (instructions) out.instructions = instructions
  if (options.stream) out.stream = true
  if (request.maxOutputTokens !== undefined) out.max_output_tokens = request.maxOutputTokens
  if (request.temperature !== undefined) out.temperature = request.temperature
  if (request.topP !== undefined) out.top_p = request.topP
  if (request.topK !== undefined) dropped.push('top_k')
  if (request.stop && request.stop.length > 0) dropped.push('stop')
  if (request.user) out.user = request.user
  if (request.metadata) out.metadata = request.metadata
  if (request.promptCacheKey) out.prompt_cache_key = request.promptCacheKey
  if (request.tools.length > 0) {
    out.tools = request.tools.map((t) =>
      t.kind === 'custom'
        ? { type: 'custom', name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.format ? { format: t.format } : {}) }
        // Responses makes functions strict unless told otherwise; other protocols' schemas are not written for that.
        : { type: 'function', name: flatToolName(t.name, t.namespace), ...(t.description ? { description: t.description } : {}), parameters: t.parameters, strict: t.strict ?? false },
    )
    const c = request.toolChoice
    if (c) out.tool_choice = c.type === 'tool' ? { type: 'function', name: flatToolName(c.name, c.namespace) } : c.type
    if (request.parallelToolCalls !== undefined) out.parallel_tool_calls = request.parallelToolCalls
  }
  const text: Json = {}
  const f = request.format
  if (f?.type === 'json_schema') text.format = { type: 'json_schema', name: f.name ?? 'output', schema: f.schema, ...(f.strict !== undefined ? { strict: f.strict } : {}), ...(f.description ? { description: f.description } : {}) }
  else if (f?.type === 'json_object') text.format = { type: 'json_object' }
  if (request.verbosity) text.verbosity = request.verbosity
  if (Object.keys(text).length > 0) out.text = text
  const r = request.reasoning
  if (r?.disabled) out.reasoning = { effort: 'none' }
  else if (r && (r.effort || r.budgetTokens !== undefined || r.summary)) {
    out.reasoning = { effort: r.effort ?? effortForBudget(r.budgetTokens), summary: r.summary ?? 'auto' }
    out.include = ['reasoning.encrypted_content']
  }
  return out
}

/** A thinking budget as the nearest Responses effort. */
function effortForBudget(budget: number | undefined): string {
  if (budget === undefined) return 'medium'
  if (budget <= 2048) return 'low'
  if (budget <= 8192) return 'medium'
  return 'high'
}
