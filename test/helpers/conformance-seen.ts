/**
 * Reads a request body an upstream received (chat completions, Responses, Anthropic Messages or
 * Gemini generateContent) into one neutral conversation, so the conformance suite can state once
 * what must arrive. Each reader takes only the fields its protocol defines, so a body in the wrong
 * shape (a nested chat tool sent to the Responses API, arguments as an object instead of a string,
 * a tool_result after text, Gemini function responses split over two turns) reads as something
 * else and the comparison fails.
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

// --- Gemini generateContent --------------------------------------------------------------------------

/**
 * Gemini function calls have no ids (an `id` is echoed when there is one): a call is named here by
 * its place (`gemini call <turn>.<k>`), and each functionResponse answers the first call still
 * unanswered of the previous model turn with its name, as Gemini matches them. All responses of a
 * model turn must come in the user turn right after it, as many as there were calls. Consecutive
 * contents of one role are one turn (the GenAI SDK's chat session keeps a streamed answer as one
 * model content per chunk); whether the gateway wrote them alternating is checked on the raw body.
 */
function fromGemini(body: any, path: string): Seen {
  const turns: Turn[] = []
  let unanswered: ToolCall[] = []
  const merged: Array<{ role: unknown; parts: any[] }> = []
  for (const content of body.contents ?? []) {
    const parts: any[] = Array.isArray(content?.parts) ? content.parts : []
    if (parts.length === 0) turns.push({ role: String(content?.role), problem: 'a content without parts' })
    if (merged.at(-1)?.role === content?.role) merged.at(-1)!.parts.push(...parts)
    else merged.push({ role: content?.role, parts: [...parts] })
  }
  merged.forEach(({ role, parts }, i: number) => {
    for (const p of parts) {
      const data = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'].filter((k) => p?.[k] !== undefined)
      if (data.length !== 1) turns.push({ role: String(role), problem: `a part with ${data.length} data fields: ${JSON.stringify(p).slice(0, 200)}` })
    }
    if (role === 'model') {
      if (unanswered.length) turns.push({ role: 'model', problem: `${unanswered.length} function calls were not answered` })
      const calls = parts
        .filter((p) => p?.functionCall)
        .map((p, k) => {
          const fc = p.functionCall
          const args = fc.args && typeof fc.args === 'object' && !Array.isArray(fc.args) ? fc.args : { problem: `args is ${JSON.stringify(fc.args)}, not an object` }
          return { id: typeof fc.id === 'string' ? fc.id : `gemini call ${i}.${k}`, name: fc.name, args }
        })
      const text = parts.filter((p) => typeof p?.text === 'string' && p.thought !== true).map((p) => p.text).join('')
      turns.push(assistant(text, calls))
      unanswered = [...calls]
    } else if (role === 'user') {
      const responses = parts.filter((p) => p?.functionResponse)
      for (const { functionResponse: fr } of responses) {
        const at = typeof fr.id === 'string' ? unanswered.findIndex((c) => c.id === fr.id) : unanswered.findIndex((c) => c.name === fr.name)
        const call = at >= 0 ? unanswered.splice(at, 1)[0]! : undefined
        // `response` must be an object; a text result goes in its `output`.
        const output = typeof fr.response?.output === 'string' ? fr.response.output : `(response is ${JSON.stringify(fr.response)}, not {output: string})`
        turns.push(call ? { role: 'tool', callId: call.id, output } : { role: 'tool', problem: `a functionResponse for ${fr.name} that answers no call of the previous model turn` })
      }
      if (responses.length && unanswered.length) turns.push({ role: 'tool', problem: `${unanswered.length} of the model turn's function calls got no response in this content` })
      unanswered = []
      const rest = parts.filter((p) => !p?.functionResponse)
      const images = rest.filter((p) => p?.inlineData || p?.fileData).map((p) => (p.inlineData ? { mediaType: p.inlineData.mimeType, data: p.inlineData.data } : { mediaType: `fileData ${p.fileData.mimeType}`, data: p.fileData.fileUri }))
      if (rest.length) turns.push(user(rest.filter((p) => typeof p?.text === 'string').map((p) => p.text).join(''), images))
    } else {
      turns.push({ role: String(role), problem: `Gemini has no ${role} role in contents` })
    }
  })
  const tools = (body.tools ?? []).flatMap((t: any) =>
    Array.isArray(t.functionDeclarations)
      ? t.functionDeclarations.map((f: any) => ({ name: f.name, description: f.description, parameters: f.parametersJsonSchema ?? { openApiParameters: f.parameters } }))
      : [{ name: `tool ${Object.keys(t).join(',')}`, parameters: null }],
  )
  const g = body.generationConfig ?? {}
  const thinking = g.thinkingConfig
  const schema = g.responseJsonSchema ?? g.responseSchema
  return {
    model: /\/models\/(.+):[^:]+$/.exec(path.split('?')[0]!)?.[1] ?? `no model in ${path}`,
    system: squash((body.systemInstruction?.parts ?? []).filter((p: any) => typeof p?.text === 'string').map((p: any) => p.text).join(' ')),
    turns,
    tools,
    // A schema works only with the JSON MIME type.
    schema: schema ? { schema: g.responseMimeType === 'application/json' ? schema : { responseMimeType: g.responseMimeType, schema } } : undefined,
    maxTokens: g.maxOutputTokens,
    reasoning: typeof thinking?.thinkingLevel === 'string' ? thinking.thinkingLevel.toLowerCase() : thinking?.thinkingBudget > 0 || thinking?.thinkingBudget === -1 ? `budget ${thinking.thinkingBudget}` : undefined,
  }
}

/** `path` is the upstream request's (Gemini names the model there). */
export function readSeen(protocol: Protocol, body: any, path = ''): Seen {
  if (protocol === 'gemini') return fromGemini(body, path)
  return protocol === 'chat' ? fromChat(body) : protocol === 'responses' ? fromResponses(body) : fromAnthropic(body)
}

/**
 * The turns with every call id replaced by the call's place (`call 1`, `call 2`, ... in order of
 * appearance) and each tool result's id by the place of the call it answers, for a conversation
 * that went through Gemini, where calls have no ids of their own: what must hold is which result
 * answers which call.
 */
export function callsByPlace(turns: Turn[]): Turn[] {
  const place = new Map<string, string>()
  return turns.map((t): Turn => {
    if (t.role === 'assistant' && 'calls' in t && t.calls) {
      return { ...t, calls: t.calls.map((c) => {
        if (!place.has(c.id)) place.set(c.id, `call ${place.size + 1}`)
        return { ...c, id: place.get(c.id)! }
      }) }
    }
    if (t.role === 'tool' && 'callId' in t) return { ...t, callId: place.get(t.callId) ?? `no call has id ${t.callId}` }
    return t
  })
}
