/**
 * Real provider traffic recorded by the Vercel AI SDK (test/fixtures/recorded/README.md) and what
 * must hold when it goes through the gateway's translators: which recordings there are and which
 * wire protocol each speaks, the recording read back as the upstream SSE events it was, what it
 * says (text, reasoning, tool calls, usage) computed from the recording itself, and the client
 * side of a translation read back and checked for the shape its protocol's SDKs expect.
 *
 * Nothing here uses the translators: the expected values and the shape checks are written from
 * the wire protocols, so that a translator's mistake cannot cancel itself out.
 */
import { readFileSync } from 'node:fs'
import type { Json } from '../../src/protocols/ir.ts'

export type Wire = 'chat' | 'responses' | 'anthropic'
export const WIRES: readonly Wire[] = ['chat', 'responses', 'anthropic']

export interface Recording {
  /** Under test/fixtures/recorded/. */
  file: string
  wire: Wire
  /** What it exercises. */
  about: string
}

/** Recorded streams: `*.chunks.txt` (one event's data a line) or `*.sse` (the SSE text as sent). */
export const STREAMS: readonly Recording[] = [
  { file: 'openai/openai-text.chunks.txt', wire: 'chat', about: 'OpenAI gpt-4.1-nano text, usage in a trailing choices:[] chunk' },
  { file: 'azure/azure-model-router.1.chunks.txt', wire: 'chat', about: 'Azure model router: a first chunk with an empty id and model (prompt filter results), reasoning tokens' },
  { file: 'xai/xai-tool-call.chunks.txt', wire: 'chat', about: 'xAI grok-3-mini: reasoning_content, then a whole tool call in one chunk' },
  { file: 'deepseek/deepseek-reasoning.chunks.txt', wire: 'chat', about: 'DeepSeek reasoner: reasoning_content then content' },
  { file: 'deepseek/deepseek-tool-call.chunks.txt', wire: 'chat', about: 'DeepSeek: reasoning_content, then a streamed tool call; cached prompt tokens' },
  { file: 'groq/groq-reasoning.chunks.txt', wire: 'chat', about: 'Groq qwen3-32b: the `reasoning` delta field, usage beside x_groq in the finish chunk' },
  { file: 'groq/groq-tool-call.chunks.txt', wire: 'chat', about: 'Groq llama-3.3: content null, a whole tool call with arguments "{}"' },
  { file: 'mistral/mistral-reasoning.chunks.txt', wire: 'chat', about: 'Mistral magistral: content as arrays of thinking and text parts' },
  { file: 'mistral/mistral-incremental-tool-call.chunks.txt', wire: 'chat', about: 'Mistral-hosted GLM: a tool call whose later fragments repeat name "" without an id' },
  { file: 'openai-compatible/anthropic-fallback-tool-call.sse', wire: 'chat', about: "Anthropic's OpenAI-compatible endpoint: text, then a tool call whose index starts at 1" },
  { file: 'openai/openai-reasoning-encrypted-content.1.chunks.txt', wire: 'responses', about: 'OpenAI gpt-5-mini, four turns: reasoning summary with encrypted_content, function calls, text' },
  { file: 'openai/openai-web-search-tool.1.chunks.txt', wire: 'responses', about: 'OpenAI web_search: reasoning items without summary, web_search_call items, url_citation annotations' },
  { file: 'openai/openai-error.1.chunks.txt', wire: 'responses', about: 'OpenAI: an `error` event (insufficient_quota) then response.failed' },
  { file: 'github-copilot/github-copilot-id-rotation.1.chunks.txt', wire: 'responses', about: 'GitHub Copilot Responses API: every event carries a different (rotated) item id' },
  { file: 'lmstudio/lmstudio-tool-call.1.chunks.txt', wire: 'responses', about: 'LM Studio (Open Responses): reasoning_text content parts, a function call whose arguments come only in .done' },
  { file: 'xai/xai-text-with-reasoning-streaming-store-false.1.chunks.txt', wire: 'responses', about: 'xAI Responses, store false: reasoning summary with encrypted_content, long text' },
  { file: 'anthropic/anthropic-text.chunks.txt', wire: 'anthropic', about: 'Claude text' },
  { file: 'anthropic/anthropic-tool-no-args.chunks.txt', wire: 'anthropic', about: 'text, then a tool_use whose only input delta is ""' },
  { file: 'anthropic/anthropic-json-tool.2.chunks.txt', wire: 'anthropic', about: 'text, then a tool_use with streamed input' },
  { file: 'anthropic/anthropic-clear-thinking.1.chunks.txt', wire: 'anthropic', about: 'thinking with a signature_delta, then text' },
  { file: 'anthropic/anthropic-programmatic-tool-calling.1.chunks.txt', wire: 'anthropic', about: 'programmatic tool calling, 15 streams: tool_use with a caller, whole messages in message_start, server tools' },
  { file: 'anthropic/anthropic-web-search-tool.1.chunks.txt', wire: 'anthropic', about: 'web search: server_tool_use, web_search_tool_result, text blocks with citations_delta' },
  { file: 'anthropic/anthropic-mcp.1.chunks.txt', wire: 'anthropic', about: 'MCP connector: mcp_tool_use and mcp_tool_result blocks, then text' },
  { file: 'anthropic/anthropic-message-delta-input-tokens.chunks.txt', wire: 'anthropic', about: 'input_tokens revised in message_delta' },
]

/** Recorded whole (non-stream) answers. */
export const ANSWERS: readonly Recording[] = [
  { file: 'openai/openai-text.json', wire: 'chat', about: 'OpenAI text' },
  { file: 'deepseek/deepseek-reasoning.json', wire: 'chat', about: 'DeepSeek reasoning_content' },
  { file: 'xai/xai-tool-call.json', wire: 'chat', about: 'xAI reasoning_content, content "" and a tool call' },
  { file: 'groq/groq-reasoning.json', wire: 'chat', about: 'Groq: the `reasoning` field beside content' },
  { file: 'groq/groq-tool-call.json', wire: 'chat', about: 'Groq: no content field, a tool call with "{}"' },
  { file: 'mistral/mistral-reasoning.json', wire: 'chat', about: 'Mistral content parts (thinking, text)' },
  { file: 'openai/openai-reasoning-encrypted-content.1.json', wire: 'responses', about: 'reasoning with encrypted_content, function call' },
  { file: 'openai/openai-web-search-tool.1.json', wire: 'responses', about: 'web search calls and annotated text' },
  { file: 'lmstudio/lmstudio-tool-call.1.json', wire: 'responses', about: 'LM Studio function call' },
  { file: 'anthropic/anthropic-text.json', wire: 'anthropic', about: 'Claude text' },
  { file: 'anthropic/anthropic-tool-no-args.json', wire: 'anthropic', about: 'text and a tool_use with input {}' },
  { file: 'anthropic/anthropic-clear-thinking.1.json', wire: 'anthropic', about: 'thinking with signature, text' },
  { file: 'anthropic/anthropic-programmatic-tool-calling.1.json', wire: 'anthropic', about: 'server_tool_use, tool_use with caller, code execution result' },
]

const FIXTURES = new URL('../fixtures/recorded/', import.meta.url)

export function readRecording(file: string): string {
  return readFileSync(new URL(file, FIXTURES), 'utf8')
}

export interface WireEvent {
  /** The SSE `event:` name (null when the event had none). */
  name: string | null
  data: string
}

/** SSE text as events: the `event:` line and the `data:` lines joined. */
export function parseSse(text: string): WireEvent[] {
  const events: WireEvent[] = []
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    if (!block.trim()) continue
    let name: string | null = null
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
    if (data.length > 0) events.push({ name, data: data.join('\n') })
  }
  return events
}

/**
 * A recording as the upstream streams it was, one list of events per HTTP response. A
 * `.chunks.txt` file holds one event's data a line, as the AI SDK replays it: Anthropic's and
 * Responses' events get the `event:` name their providers send (their `type`); chat streams get
 * the `data: [DONE]` their providers end with. A file may hold several responses of one
 * multi-step exchange, one after the other: they are split after each terminal event.
 */
export function recordedStreams(rec: Recording): WireEvent[][] {
  const raw = readRecording(rec.file)
  let events: WireEvent[]
  if (rec.file.endsWith('.sse')) events = parseSse(raw)
  else {
    const lines = raw.split('\n').filter((l) => l.trim() !== '')
    events = lines.map((data) => ({ name: rec.wire === 'chat' ? null : String(JSON.parse(data).type), data }))
    if (rec.wire === 'chat') events.push({ name: null, data: '[DONE]' })
  }
  const terminal = (e: WireEvent): boolean => {
    if (rec.wire === 'chat') return e.data === '[DONE]'
    const type = JSON.parse(e.data).type
    return rec.wire === 'anthropic' ? type === 'message_stop' || type === 'error' : ['response.completed', 'response.incomplete', 'response.failed'].includes(type)
  }
  const streams: WireEvent[][] = []
  let current: WireEvent[] = []
  for (const e of events) {
    current.push(e)
    if (terminal(e)) {
      streams.push(current)
      current = []
    }
  }
  if (current.length > 0) streams.push(current)
  return streams
}

export interface Call {
  id: string
  name: string
  /** The arguments parsed (a function call), or the raw input (a freeform call). */
  args: unknown
  custom?: boolean
}

/** Token counts in the gateway's terms: `input` includes cache reads and writes. */
export interface Tokens {
  input: number
  output: number
  cacheRead: number
  cacheWrite: number
  reasoning: number
}

/** What an answer says, protocol aside. */
export interface Said {
  text: string
  reasoning: string
  calls: Call[]
  /** Reasoning signatures / encrypted content, as their producer gave them. */
  signatures: string[]
  /** Anthropic citations. */
  citations: number
  /** stop | tool | length | filter | error */
  stop: string
  usage?: Tokens
  /** The provider's own total, where it gives one. */
  total?: number
  error?: { type: string; message: string }
}

const empty = (): Said => ({ text: '', reasoning: '', calls: [], signatures: [], citations: 0, stop: '' })

/** Arguments text as JSON; undefined when it is not valid JSON. */
export function parseArgs(text: string): unknown {
  try {
    return JSON.parse(text.trim() === '' ? '{}' : text)
  } catch {
    return undefined
  }
}

const n = (v: unknown): number => (typeof v === 'number' ? v : 0)

function chatTokens(u: Json): Tokens {
  const reasoning = n(u.completion_tokens_details?.reasoning_tokens)
  // xAI counts reasoning tokens beside completion_tokens, not in them: its total says so.
  const apart = reasoning > 0 && n(u.total_tokens) === n(u.prompt_tokens) + n(u.completion_tokens) + reasoning
  return {
    input: n(u.prompt_tokens),
    output: n(u.completion_tokens) + (apart ? reasoning : 0),
    cacheRead: n(u.prompt_tokens_details?.cached_tokens),
    cacheWrite: n(u.prompt_tokens_details?.cache_write_tokens),
    reasoning: n(u.completion_tokens_details?.reasoning_tokens),
  }
}

function responsesTokens(u: Json): Tokens {
  return {
    input: n(u.input_tokens),
    output: n(u.output_tokens),
    cacheRead: n(u.input_tokens_details?.cached_tokens),
    cacheWrite: 0,
    reasoning: n(u.output_tokens_details?.reasoning_tokens),
  }
}

function anthropicTokens(u: Json): Tokens {
  const read = n(u.cache_read_input_tokens)
  const write = n(u.cache_creation_input_tokens)
  return { input: n(u.input_tokens) + read + write, output: n(u.output_tokens), cacheRead: read, cacheWrite: write, reasoning: n(u.output_tokens_details?.thinking_tokens) }
}

const CHAT_STOP: Record<string, string> = { stop: 'stop', tool_calls: 'tool', function_call: 'tool', length: 'length', content_filter: 'filter' }
const ANTHROPIC_STOP: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', pause_turn: 'stop', tool_use: 'tool', max_tokens: 'length', refusal: 'filter' }

/** One message's text and reasoning, from a chat delta or message: string content, or content parts (Mistral). */
function chatText(m: Json, said: Said): void {
  if (typeof m.reasoning_content === 'string') said.reasoning += m.reasoning_content
  else if (typeof m.reasoning === 'string') said.reasoning += m.reasoning
  if (typeof m.content === 'string') said.text += m.content
  else if (Array.isArray(m.content)) {
    for (const part of m.content as Json[]) {
      if (part?.type === 'thinking') said.reasoning += (Array.isArray(part.thinking) ? part.thinking : [{ text: part.thinking }]).map((t: Json) => t?.text ?? '').join('')
      else if (typeof part?.text === 'string') said.text += part.text
    }
  }
}

/** What one recorded upstream stream says. */
export function saidByStream(wire: Wire, events: WireEvent[]): Said {
  if (wire === 'chat') return saidByChatStream(events)
  if (wire === 'anthropic') return saidByAnthropicStream(events)
  return saidByResponsesStream(events)
}

function saidByChatStream(events: WireEvent[]): Said {
  const said = empty()
  const calls = new Map<number, { id: string; name: string; args: string }>()
  let finish = ''
  for (const e of events) {
    if (e.data === '[DONE]') continue
    const chunk = JSON.parse(e.data)
    if (chunk.usage && typeof chunk.usage === 'object') {
      said.usage = chatTokens(chunk.usage)
      if (typeof chunk.usage.total_tokens === 'number') said.total = chunk.usage.total_tokens
    }
    const choice = chunk.choices?.[0]
    if (!choice) continue
    chatText(choice.delta ?? {}, said)
    for (const c of (choice.delta?.tool_calls ?? []) as Json[]) {
      const call = calls.get(c.index) ?? { id: '', name: '', args: '' }
      if (c.id) call.id = c.id
      call.name += c.function?.name ?? ''
      call.args += c.function?.arguments ?? ''
      calls.set(c.index, call)
    }
    if (choice.finish_reason) finish = choice.finish_reason
  }
  said.calls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => ({ id: c.id, name: c.name, args: parseArgs(c.args) }))
  said.stop = CHAT_STOP[finish] ?? finish
  return said
}

/** Block types the client's own tools produce; every other non-text block is a server tool's. */
function saidByAnthropicStream(events: WireEvent[]): Said {
  const said = empty()
  let usage: Json = {}
  let stop = ''
  const blocks = new Map<number, { type: string; text: string; id?: string; name?: string; input?: Json; partial: string; signature: string }>()
  const order: number[] = []
  const open = (index: number, b: Json) => {
    blocks.set(index, { type: b.type, text: b.text ?? b.thinking ?? '', id: b.id, name: b.name, input: b.input, partial: '', signature: b.signature ?? '' })
    order.push(index)
    if (b.type === 'text' && Array.isArray(b.citations)) said.citations += b.citations.length
  }
  for (const e of events) {
    const ev = JSON.parse(e.data)
    switch (ev.type) {
      case 'message_start':
        usage = { ...ev.message.usage }
        ;(ev.message.content ?? []).forEach((b: Json, i: number) => open(i, b))
        if (ev.message.stop_reason) stop = ev.message.stop_reason
        break
      case 'content_block_start':
        open(ev.index, ev.content_block)
        break
      case 'content_block_delta': {
        const b = blocks.get(ev.index)!
        const d = ev.delta
        if (d.type === 'text_delta') b.text += d.text
        else if (d.type === 'thinking_delta') b.text += d.thinking
        else if (d.type === 'signature_delta') b.signature += d.signature
        else if (d.type === 'input_json_delta') b.partial += d.partial_json
        else if (d.type === 'citations_delta') said.citations++
        break
      }
      case 'message_delta':
        usage = { ...usage, ...ev.usage }
        if (ev.delta?.stop_reason) stop = ev.delta.stop_reason
        break
      case 'error':
        said.error = { type: ev.error.type, message: ev.error.message }
        break
    }
  }
  for (const index of order) {
    const b = blocks.get(index)!
    if (b.type === 'text') said.text += b.text
    else if (b.type === 'thinking') {
      said.reasoning += b.text
      if (b.signature) said.signatures.push(b.signature)
    } else if (b.type === 'tool_use') {
      const args = b.partial.trim() ? parseArgs(b.partial) : (b.input ?? {})
      said.calls.push({ id: b.id!, name: b.name!, args })
    }
  }
  said.usage = anthropicTokens(usage)
  said.stop = said.error ? 'error' : (ANTHROPIC_STOP[stop] ?? stop)
  return said
}

/** The whole items of a Responses stream (its output_item.done events), in output order. */
function saidByResponsesStream(events: WireEvent[]): Said {
  const items: Array<{ at: number; item: Json }> = []
  let response: Json | undefined
  let error: Said['error']
  for (const e of events) {
    const ev = JSON.parse(e.data)
    if (ev.type === 'response.output_item.done') items.push({ at: ev.output_index, item: ev.item })
    else if (ev.type === 'response.completed' || ev.type === 'response.incomplete') response = ev.response
    else if (ev.type === 'response.failed') error ??= { type: ev.response?.error?.code, message: ev.response?.error?.message }
    else if (ev.type === 'error') error ??= { type: ev.code ?? ev.error?.code, message: ev.message ?? ev.error?.message }
  }
  const said = saidByOutput(items.sort((a, b) => a.at - b.at).map((i) => i.item), response ?? {})
  if (error) {
    said.error = error
    said.stop = 'error'
  }
  return said
}

function saidByOutput(output: Json[], response: Json): Said {
  const said = empty()
  for (const item of output) {
    if (item.type === 'message') {
      for (const c of item.content ?? []) if (c.type === 'output_text') said.text += c.text
    } else if (item.type === 'reasoning') {
      const summary = (item.summary ?? []).map((s: Json) => s.text).filter(Boolean)
      const raw = (item.content ?? []).map((s: Json) => s.text).filter(Boolean)
      said.reasoning += (summary.length > 0 ? summary : raw).join('\n\n')
      if (item.encrypted_content) said.signatures.push(item.encrypted_content)
    } else if (item.type === 'function_call') said.calls.push({ id: item.call_id, name: item.name, args: parseArgs(item.arguments) })
    else if (item.type === 'custom_tool_call') said.calls.push({ id: item.call_id, name: item.name, args: item.input, custom: true })
  }
  if (response.usage) {
    said.usage = responsesTokens(response.usage)
    if (typeof response.usage.total_tokens === 'number') said.total = response.usage.total_tokens
  }
  said.stop = response.status === 'incomplete' ? (response.incomplete_details?.reason === 'content_filter' ? 'filter' : 'length') : said.calls.length > 0 ? 'tool' : 'stop'
  if (response.status === 'failed') {
    said.error = { type: response.error?.code, message: response.error?.message }
    said.stop = 'error'
  }
  return said
}

/** What one recorded whole answer says. */
export function saidByAnswer(wire: Wire, body: Json): Said {
  if (wire === 'responses') return saidByOutput(body.output ?? [], body)
  if (wire === 'anthropic') {
    const said = empty()
    for (const b of body.content ?? []) {
      if (b.type === 'text') {
        said.text += b.text
        said.citations += Array.isArray(b.citations) ? b.citations.length : 0
      } else if (b.type === 'thinking') {
        said.reasoning += b.thinking
        if (b.signature) said.signatures.push(b.signature)
      } else if (b.type === 'tool_use') said.calls.push({ id: b.id, name: b.name, args: b.input })
    }
    said.usage = anthropicTokens(body.usage ?? {})
    said.stop = ANTHROPIC_STOP[body.stop_reason] ?? body.stop_reason
    return said
  }
  const said = empty()
  const choice = body.choices?.[0] ?? {}
  const m = choice.message ?? {}
  chatText(m, said)
  said.calls = ((m.tool_calls ?? []) as Json[]).map((c) => ({ id: c.id, name: c.function?.name, args: parseArgs(c.function?.arguments ?? '') }))
  if (body.usage) {
    said.usage = chatTokens(body.usage)
    if (typeof body.usage.total_tokens === 'number') said.total = body.usage.total_tokens
  }
  said.stop = CHAT_STOP[choice.finish_reason] ?? choice.finish_reason
  return said
}

/** A client's stream read back: what it says, and every way its shape breaks its protocol. */
export interface ClientStream extends Said {
  problems: string[]
}

export function readClientStream(wire: Wire, text: string): ClientStream {
  if (wire === 'chat') return readChatStream(text)
  if (wire === 'anthropic') return readAnthropicStream(text)
  return readResponsesStream(text)
}

function readChatStream(text: string): ClientStream {
  const out: ClientStream = { ...empty(), problems: [] }
  const problem = (p: string) => out.problems.push(p)
  const events = parseSse(text)
  if (!text.endsWith('\n\n')) problem('the stream does not end with a blank line')
  const calls = new Map<number, { id: string; name: string; args: string }>()
  let finishes = 0
  let afterFinish = false
  let done = false
  events.forEach((e, i) => {
    if (e.name !== null) problem(`event ${i} has an event: line (${e.name})`)
    if (done) problem(`event ${i} comes after [DONE]`)
    if (e.data === '[DONE]') {
      done = true
      return
    }
    let chunk: Json
    try {
      chunk = JSON.parse(e.data)
    } catch {
      problem(`event ${i} is not JSON: ${e.data.slice(0, 80)}`)
      return
    }
    if (chunk.error) {
      out.error = { type: chunk.error.type, message: chunk.error.message }
      if (i !== events.length - 1) problem('an error chunk is not the last event')
      return
    }
    if (chunk.object !== 'chat.completion.chunk') problem(`event ${i}: object is ${chunk.object}`)
    if (typeof chunk.id !== 'string' || !chunk.id) problem(`event ${i}: no id`)
    if (!Array.isArray(chunk.choices)) problem(`event ${i}: no choices`)
    if (chunk.usage) {
      out.usage = chatTokens(chunk.usage)
      out.total = chunk.usage.total_tokens
      if (chunk.choices?.length) problem('the usage chunk has choices')
    }
    const choice = chunk.choices?.[0]
    if (!choice) return
    if (afterFinish) problem(`event ${i}: a choice after the finish_reason chunk`)
    if (i === 0 && choice.delta?.role !== 'assistant') problem('the first chunk does not give the assistant role')
    const d = choice.delta ?? {}
    // Read as the chat dialects write it: a same-protocol replay keeps its provider's dialect.
    chatText(d, out)
    for (const c of (d.tool_calls ?? []) as Json[]) {
      if (typeof c.index !== 'number') problem(`event ${i}: a tool call without an index`)
      let call = calls.get(c.index)
      if (!call) {
        if (c.index !== calls.size) problem(`event ${i}: tool call index ${c.index} where ${calls.size} was next`)
        if (!c.id || c.type !== 'function' || !c.function?.name) problem(`event ${i}: the first fragment of tool call ${c.index} lacks its id, type or name`)
        call = { id: c.id ?? '', name: c.function?.name ?? '', args: '' }
        calls.set(c.index, call)
      } else if (c.id || c.function?.name) problem(`event ${i}: tool call ${c.index} repeats its id or name`)
      call.args += c.function?.arguments ?? ''
    }
    if (choice.finish_reason) {
      finishes++
      afterFinish = true
      out.stop = CHAT_STOP[choice.finish_reason] ?? choice.finish_reason
    }
  })
  if (!out.error) {
    if (finishes !== 1) problem(`${finishes} chunks with a finish_reason`)
    if (events.at(-1)?.data !== '[DONE]') problem('the last event is not data: [DONE]')
  } else out.stop = 'error'
  out.calls = [...calls.values()].map((c) => {
    const args = parseArgs(c.args)
    if (!isObject(args)) problem(`tool call ${c.id}: arguments ${JSON.stringify(c.args).slice(0, 80)} are not a JSON object`)
    return { id: c.id, name: c.name, args }
  })
  return { ...out, problems: counted(out.problems) }
}

/** Problems in order of first appearance, a repeated one counted once with its count. */
function counted(problems: string[]): string[] {
  const counts = new Map<string, number>()
  for (const p of problems) counts.set(p, (counts.get(p) ?? 0) + 1)
  return [...counts].map(([p, k]) => (k > 1 ? `${p} (${k} times)` : p))
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v)

const DELTA_FOR: Record<string, string[]> = {
  text: ['text_delta', 'citations_delta'],
  thinking: ['thinking_delta', 'signature_delta'],
  tool_use: ['input_json_delta'],
}

function readAnthropicStream(text: string): ClientStream {
  const out: ClientStream = { ...empty(), problems: [] }
  const problem = (p: string) => out.problems.push(p)
  const events = parseSse(text)
  let started = false
  let stopped = false
  let delta = false
  let next = 0
  let open: { index: number; type: string; text: string; id: string; name: string; partial: string; signature: string } | null = null
  events.forEach((e, i) => {
    let ev: Json
    try {
      ev = JSON.parse(e.data)
    } catch {
      problem(`event ${i} is not JSON`)
      return
    }
    if (e.name !== ev.type) problem(`event ${i}: event: ${e.name} but type ${ev.type}`)
    if (stopped) problem(`event ${i} (${ev.type}) after message_stop`)
    if (i === 0 && ev.type !== 'message_start') problem(`the first event is ${ev.type}`)
    switch (ev.type) {
      case 'message_start':
        if (started) problem('a second message_start')
        started = true
        if (ev.message?.type !== 'message' || ev.message?.role !== 'assistant' || !Array.isArray(ev.message?.content)) problem('message_start does not hold an assistant message')
        break
      case 'content_block_start': {
        if (open) problem(`block ${ev.index} starts while block ${open.index} is open`)
        if (delta) problem('a block after message_delta')
        if (ev.index !== next) problem(`block index ${ev.index} where ${next} was next`)
        next = ev.index + 1
        const b = ev.content_block ?? {}
        // Other block types (server tools and their results) are Anthropic's own: valid for its clients.
        if (typeof b.type !== 'string') problem(`block ${ev.index} without a type`)
        if (b.type === 'tool_use' && (!b.id || !b.name || !isObject(b.input))) problem(`tool_use block ${ev.index} lacks id, name or input`)
        open = { index: ev.index, type: b.type, text: b.text ?? b.thinking ?? '', id: b.id ?? '', name: b.name ?? '', partial: '', signature: b.signature ?? '' }
        break
      }
      case 'content_block_delta': {
        if (!open || open.index !== ev.index) {
          problem(`a ${ev.delta?.type} for block ${ev.index}, which is not the open block (${open ? open.index : 'none'})`)
          return
        }
        const d = ev.delta ?? {}
        const allowed = DELTA_FOR[open.type] ?? (open.type.endsWith('tool_use') ? ['input_json_delta'] : [])
        if (!allowed.includes(d.type)) problem(`a ${d.type} in a ${open.type} block`)
        if (d.type === 'text_delta') open.text += d.text
        else if (d.type === 'thinking_delta') open.text += d.thinking
        else if (d.type === 'signature_delta') open.signature += d.signature
        else if (d.type === 'input_json_delta') open.partial += d.partial_json
        else if (d.type === 'citations_delta') out.citations++
        break
      }
      case 'content_block_stop': {
        if (!open || open.index !== ev.index) {
          problem(`content_block_stop for block ${ev.index}, which is not the open block (${open ? open.index : 'none'})`)
          return
        }
        if (open.type === 'text') out.text += open.text
        else if (open.type === 'thinking') {
          out.reasoning += open.text
          if (open.signature) out.signatures.push(open.signature)
        } else if (open.type === 'tool_use') {
          const args = parseArgs(open.partial)
          if (!isObject(args)) problem(`tool_use ${open.id}: input ${JSON.stringify(open.partial).slice(0, 80)} is not a JSON object`)
          out.calls.push({ id: open.id, name: open.name, args })
        }
        open = null
        break
      }
      case 'message_delta':
        if (open) problem(`message_delta while block ${open.index} is open`)
        if (delta) problem('a second message_delta')
        delta = true
        if (!ev.delta?.stop_reason) problem('message_delta without a stop_reason')
        out.stop = ANTHROPIC_STOP[ev.delta?.stop_reason] ?? ev.delta?.stop_reason
        if (ev.usage) out.usage = anthropicTokens(ev.usage)
        break
      case 'message_stop':
        if (!delta) problem('message_stop without message_delta')
        stopped = true
        break
      case 'error':
        out.error = { type: ev.error?.type, message: ev.error?.message }
        out.stop = 'error'
        if (i !== events.length - 1) problem('an error event is not the last event')
        break
      case 'ping':
        break
      default:
        problem(`an event of type ${ev.type}`)
    }
  })
  if (!out.error && !stopped) problem('no message_stop')
  return { ...out, problems: counted(out.problems) }
}

const TERMINAL = ['response.completed', 'response.incomplete', 'response.failed']

function readResponsesStream(text: string): ClientStream {
  const problems: string[] = []
  const problem = (p: string) => problems.push(p)
  const events = parseSse(text)
  const added = new Map<string, { at: number; item: Json; text: string; args: string }>()
  const done: Json[] = []
  let terminal: Json | undefined
  let id: string | undefined
  events.forEach((e, i) => {
    let ev: Json
    try {
      ev = JSON.parse(e.data)
    } catch {
      problem(`event ${i} is not JSON`)
      return
    }
    if (e.name !== ev.type) problem(`event ${i}: event: ${e.name} but type ${ev.type}`)
    if (ev.sequence_number !== i) problem(`event ${i} (${ev.type}) has sequence_number ${ev.sequence_number}`)
    if (terminal) problem(`event ${i} (${ev.type}) after the terminal event`)
    if (i === 0 && ev.type !== 'response.created') problem(`the first event is ${ev.type}`)
    if (ev.response) {
      id ??= ev.response.id
      if (ev.response.id !== id) problem(`event ${i}: response id ${ev.response.id} after ${id}`)
    }
    const item = ev.item_id !== undefined ? [...added.values()].find((a) => a.item.id === ev.item_id) : undefined
    if (ev.item_id !== undefined && !item) problem(`event ${i} (${ev.type}) for item ${ev.item_id}, which is not open`)
    if (item && ev.output_index !== item.at) problem(`event ${i} (${ev.type}): output_index ${ev.output_index} for item ${ev.item_id} at ${item.at}`)
    switch (ev.type) {
      case 'response.output_item.added':
        if (ev.output_index !== added.size + done.length) problem(`output_item.added at ${ev.output_index} where ${added.size + done.length} was next`)
        if (!ev.item?.id) problem(`event ${i}: an item without an id`)
        added.set(ev.item.id, { at: ev.output_index, item: ev.item, text: '', args: '' })
        break
      case 'response.output_text.delta':
      case 'response.refusal.delta':
      case 'response.reasoning_summary_text.delta':
        if (item) item.text += ev.delta
        break
      case 'response.function_call_arguments.delta':
        if (item) item.args += ev.delta
        break
      case 'response.output_text.done':
      case 'response.reasoning_summary_text.done':
        if (item && item.text !== ev.text) problem(`${ev.type} for ${ev.item_id}: its text is not the deltas joined`)
        break
      case 'response.function_call_arguments.done':
        if (item && item.args !== ev.arguments && !(item.args === '' && ev.arguments === '{}')) problem(`arguments.done for ${ev.item_id}: not the deltas joined`)
        break
      case 'response.output_item.done': {
        const open = added.get(ev.item?.id)
        if (!open) {
          problem(`output_item.done for ${ev.item?.id}, which was not added`)
          break
        }
        if (ev.output_index !== open.at) problem(`output_item.done for ${ev.item.id} at ${ev.output_index}, added at ${open.at}`)
        added.delete(ev.item.id)
        done[open.at] = ev.item
        // What a streaming client rendered from the deltas must be what the item holds.
        const whole = ev.item.type === 'message' ? (ev.item.content ?? []).map((c: Json) => c.text ?? c.refusal ?? '').join('')
          : ev.item.type === 'reasoning' ? (ev.item.summary ?? []).map((s: Json) => s.text).join('')
          : null
        if (whole !== null && whole !== open.text) problem(`output_item.done for ${ev.item.id}: its text is not the deltas joined`)
        if (ev.item.type === 'function_call' && open.args !== ev.item.arguments && !(open.args === '' && ev.item.arguments === '{}')) problem(`output_item.done for ${ev.item.id}: its arguments are not the deltas joined`)
        break
      }
      default:
        if (TERMINAL.includes(ev.type)) terminal = ev
    }
  })
  if (!terminal) problem('no terminal event (response.completed, .incomplete or .failed)')
  if (added.size > 0) problem(`items never done: ${[...added.keys()].join(', ')}`)
  const response = terminal?.response ?? {}
  const output: Json[] = Array.isArray(response.output) ? response.output : []
  if (JSON.stringify(output) !== JSON.stringify(done)) problem('the terminal response output is not the done items')
  const said = saidByOutput(output, response)
  for (const c of said.calls) if (!c.custom && !isObject(c.args)) problem(`function call ${c.id}: arguments are not a JSON object`)
  if (terminal?.type === 'response.failed' && response.status !== 'failed') problem(`response.failed with status ${response.status}`)
  return { ...said, problems: counted(problems) }
}
