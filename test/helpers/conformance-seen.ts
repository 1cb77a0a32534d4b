/**
 * Reads a request body an upstream received (chat completions, Responses or Anthropic Messages)
 * into one neutral conversation, so the conformance suite can state once what must arrive. Each
 * reader takes only the fields its protocol defines, so a body in the wrong shape (a nested chat
 * tool sent to the Responses API, arguments as an object instead of a string, a tool_result after
 * text) reads as something else and the comparison fails.
 */
import type { Protocol, ToolCall } from './conformance-wire.ts'

export interface Image {
  mediaType: string
  data: string
}
export type Turn =
  | { role: 'user'; text: string; images?: Image[] }
  | { role: 'assistant'; text: string; calls?: ToolCall[] }
  | { role: 'tool'; callId: string; output: string }
  | { role: string; problem: string }

export interface Tool {
  name: string
  description?: string
  parameters: unknown
}

export interface Seen {
  model: string
  /** System texts in order (instructions, system/developer turns before the first other turn), joined by one space. */
  system: string
  turns: Turn[]
  tools: Tool[]
  schema?: { name?: string; schema: unknown }
  maxTokens?: number
  /** Whether the upstream was asked for reasoning (effort or thinking), and how. */
  reasoning?: unknown
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim()

function dataUrl(url: unknown): Image | { mediaType: 'not a data URL'; data: string } {
  const m = typeof url === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null
  return m ? { mediaType: m[1]!, data: m[2]! } : { mediaType: 'not a data URL', data: String(url) }
}

/** Arguments must be a JSON string (chat tool_calls, Responses function_call). */
function parsedArgs(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string') return { problem: `arguments is a ${typeof args}, not a JSON string` }
  try {
    return JSON.parse(args)
  } catch {
    return { problem: `arguments are not valid JSON: ${args}` }
  }
}

function user(text: string, images: Image[]): Turn {
  return images.length ? { role: 'user', text, images } : { role: 'user', text }
}
function assistant(text: string, calls: ToolCall[]): Turn {
  return calls.length ? { role: 'assistant', text, calls } : { role: 'assistant', text }
}

// --- chat completions ----------------------------------------------------------------------------

function chatText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.filter((p) => p?.type === 'text').map((p) => p.text).join('')
  return ''
}

function fromChat(body: any): Seen {
  const messages: any[] = body.messages ?? []
  const system: string[] = []
  let i = 0
  for (; i < messages.length && (messages[i].role === 'system' || messages[i].role === 'developer'); i++) system.push(chatText(messages[i].content))
  const turns: Turn[] = messages.slice(i).map((m): Turn => {
    if (m.role === 'user') {
      const images = Array.isArray(m.content) ? m.content.filter((p: any) => p?.type === 'image_url').map((p: any) => dataUrl(p.image_url?.url)) : []
      return user(chatText(m.content), images)
    }
    if (m.role === 'assistant') {
      const calls = (m.tool_calls ?? []).map((c: any) => ({ id: c.id, name: c.type === 'function' ? c.function?.name : `type ${c.type}`, args: parsedArgs(c.function?.arguments) }))
      return assistant(chatText(m.content), calls)
    }
    if (m.role === 'tool') return { role: 'tool', callId: m.tool_call_id, output: chatText(m.content) }
    return { role: m.role, problem: `a ${m.role} message after the conversation began: ${chatText(m.content)}` }
  })
  const tools = (body.tools ?? []).map((t: any) => ({ name: t.type === 'function' ? t.function?.name : `type ${t.type}`, description: t.function?.description, parameters: t.function?.parameters }))
  const format = body.response_format
  return {
    model: body.model,
    system: squash(system.join(' ')),
    turns,
    tools,
    schema: format?.type === 'json_schema' ? { name: format.json_schema?.name, schema: format.json_schema?.schema } : undefined,
    maxTokens: body.max_completion_tokens ?? body.max_tokens,
    reasoning: body.reasoning_effort,
  }
}

// --- Responses -------------------------------------------------------------------------------------

function responsesText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.filter((p) => p?.type === 'input_text' || p?.type === 'output_text').map((p) => p.text).join('')
  return ''
}

function fromResponses(body: any): Seen {
  const items: any[] = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : (body.input ?? [])
  const isMessage = (item: any) => item.type === 'message' || (item.type === undefined && typeof item.role === 'string')
  const system: string[] = typeof body.instructions === 'string' && body.instructions ? [body.instructions] : []
  let i = 0
  for (; i < items.length && isMessage(items[i]) && (items[i].role === 'system' || items[i].role === 'developer'); i++) system.push(responsesText(items[i].content))
  const turns: Turn[] = []
  for (const item of items.slice(i)) {
    const last = turns.at(-1)
    if (isMessage(item) && item.role === 'user') {
      const images = Array.isArray(item.content) ? item.content.filter((p: any) => p?.type === 'input_image').map((p: any) => dataUrl(p.image_url)) : []
      turns.push(user(responsesText(item.content), images))
    } else if (isMessage(item) && item.role === 'assistant') {
      turns.push(assistant(responsesText(item.content), []))
    } else if (item.type === 'function_call') {
      const call = { id: item.call_id, name: item.name, args: parsedArgs(item.arguments) }
      // A run of calls after the assistant's text is one assistant turn.
      if (last?.role === 'assistant' && 'text' in last) last.calls = [...(last.calls ?? []), call]
      else turns.push(assistant('', [call]))
    } else if (item.type === 'function_call_output') {
      turns.push({ role: 'tool', callId: item.call_id, output: responsesText(item.output) })
    } else if (item.type !== 'reasoning') {
      turns.push({ role: item.role ?? item.type, problem: `unexpected input item ${JSON.stringify(item).slice(0, 200)}` })
    }
  }
  const tools = (body.tools ?? []).map((t: any) => ({ name: t.type === 'function' ? t.name : `type ${t.type}`, description: t.description, parameters: t.parameters }))
  const format = body.text?.format
  return {
    model: body.model,
    system: squash(system.join(' ')),
    turns,
    tools,
    schema: format?.type === 'json_schema' ? { name: format.name, schema: format.schema } : undefined,
    maxTokens: body.max_output_tokens,
    reasoning: body.reasoning?.effort,
  }
}

// --- Anthropic Messages ----------------------------------------------------------------------------

function anthropicText(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.filter((b) => b?.type === 'text').map((b) => b.text).join('')
  return ''
}

function fromAnthropic(body: any): Seen {
  const turns: Turn[] = []
  for (const m of body.messages ?? []) {
    const blocks: any[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content ?? [])
    if (m.role === 'user') {
      const results = blocks.filter((b) => b.type === 'tool_result')
      if (blocks.slice(0, results.length).some((b) => b.type !== 'tool_result')) {
        turns.push({ role: 'user', problem: 'tool_result blocks must come first in their user message' })
      }
      for (const r of results) turns.push({ role: 'tool', callId: r.tool_use_id, output: anthropicText(r.content) })
      const rest = blocks.filter((b) => b.type !== 'tool_result')
      const images = rest.filter((b) => b.type === 'image').map((b) => (b.source?.type === 'base64' ? { mediaType: b.source.media_type, data: b.source.data } : { mediaType: `source ${b.source?.type}`, data: '' }))
      if (rest.length) turns.push(user(anthropicText(rest), images))
    } else if (m.role === 'assistant') {
      const calls = blocks.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, name: b.name, args: b.input }))
      turns.push(assistant(anthropicText(blocks), calls))
    } else {
      turns.push({ role: m.role, problem: `Anthropic has no ${m.role} role in messages` })
    }
  }
  // System blocks are separate texts; a string is one.
  const system = Array.isArray(body.system) ? body.system.filter((b: any) => b?.type === 'text').map((b: any) => b.text).join(' ') : (body.system ?? '')
  const format = body.output_config?.format
  return {
    model: body.model,
    system: squash(system),
    turns,
    tools: (body.tools ?? []).map((t: any) => ({ name: t.name, description: t.description, parameters: t.input_schema })),
    schema: format?.type === 'json_schema' ? { schema: format.schema } : undefined,
    maxTokens: body.max_tokens,
    reasoning: body.thinking && body.thinking.type !== 'disabled' ? body.thinking.type : undefined,
  }
}

export function readSeen(protocol: Protocol, body: any): Seen {
  return protocol === 'chat' ? fromChat(body) : protocol === 'responses' ? fromResponses(body) : fromAnthropic(body)
}
