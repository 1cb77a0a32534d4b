/**
 * The upstream side of the protocol conformance suite: one neutral answer rendered in each
 * provider protocol's real wire format (JSON body and SSE stream), and what an upstream received
 * read back into one neutral shape, so a test can say once what must arrive and check it against
 * any of the four upstream protocols.
 *
 * The formats follow the APIs as documented and as the official SDKs parse them (see
 * shared/API-NOTES.md sections 1-4 and 6): OpenAI chat chunks with `usage: null` and a final
 * `choices: []` usage chunk only when `stream_options.include_usage` asks for it,
 * `reasoning_content` deltas the way DeepSeek sends them; Responses events with `event:` lines,
 * `sequence_number` from 0 and no `[DONE]`; Anthropic named events with `input_tokens` excluding
 * cache reads and writes; Gemini `data:` chunks (CRLF-framed, no `event:` lines, no `[DONE]`) with
 * new parts only, cumulative `usageMetadata` on every chunk, `finishReason` on the last one, thought
 * parts only when `includeThoughts` asked for them, function calls without ids whose first part
 * carries the thoughtSignature, and Google's `{"error":{code,message,status}}`.
 *
 * The Gemini shapes follow recordings of the real API kept by the Vercel AI SDK
 * (https://github.com/vercel/ai, packages/google/src/__fixtures__, Apache-2.0, Copyright 2023
 * Vercel, Inc.): google-tool-call-gemini3.chunks.txt (a signed functionCall chunk, then `{text:""}`
 * with STOP), google-reasoning.chunks.txt and google-reasoning-gemini3.json (a text answer's
 * signature on its last part, an empty text part in a stream), issue-16298-gemini3-parallel-tool-calls.json
 * (parallel calls: only the first is signed), issue-19822-complete-usage.json (usageMetadata
 * fields), issue-22372-live-errors.json (the 400 message below). Only the shapes and that one
 * message are taken; the values are this suite's.
 */
import { anthropicSse } from './mock-anthropic.ts'
import { geminiSse } from './mock-gemini.ts'
import { sse } from './mock-upstream.ts'

export type Protocol = 'chat' | 'responses' | 'anthropic' | 'gemini'
export const PROTOCOLS: Protocol[] = ['chat', 'responses', 'anthropic', 'gemini']

export type Stop = 'stop' | 'length' | 'tool'
export interface ToolCall {
  id: string
  name: string
  args: Record<string, unknown>
}
/**
 * Input tokens include cached ones (OpenAI's convention); `cached` are cache reads. Output tokens
 * include `reasoning` (thought) tokens, as OpenAI counts them (Gemini counts them apart from its
 * candidates; Anthropic does not report them on their own).
 */
export interface Usage {
  input: number
  cached: number
  output: number
  reasoning: number
}
/** What the model "said", in no protocol: each string of `reasoning`/`text` is one streamed delta. */
export interface Answer {
  reasoning?: string[]
  text?: string[]
  calls?: ToolCall[]
  stop: Stop
  usage: Usage
}

export const USAGE: Usage = { input: 30, cached: 8, output: 12, reasoning: 4 }
/** Anthropic reports cache writes separately; part of the total input above. */
const CACHE_WRITE = 2
const CREATED = 1767225600
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }

/** Argument JSON in two fragments, cut mid-token, as providers stream them. */
function fragments(args: Record<string, unknown>): [string, string] {
  const json = JSON.stringify(args)
  const cut = Math.ceil(json.length / 2)
  return [json.slice(0, cut), json.slice(cut)]
}

// --- OpenAI chat completions -------------------------------------------------------------------

const CHAT_FINISH: Record<Stop, string> = { stop: 'stop', length: 'length', tool: 'tool_calls' }

function chatUsage(u: Usage) {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  }
}

export function chatCompletion(a: Answer, body: any) {
  const message: any = { role: 'assistant', content: a.text ? a.text.join('') : null, refusal: null, annotations: [] }
  if (a.reasoning) message.reasoning_content = a.reasoning.join('')
  if (a.calls?.length) {
    message.tool_calls = a.calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.args) } }))
  }
  return {
    id: 'chatcmpl-Conf0rm1',
    object: 'chat.completion',
    created: CREATED,
    model: body.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: CHAT_FINISH[a.stop] }],
    usage: chatUsage(a.usage),
    service_tier: 'default',
    system_fingerprint: 'fp_conform',
  }
}

/** Chat chunks (without `[DONE]`): `partial` stops after the first text delta. */
export function chatChunks(a: Answer, body: any, partial = false): object[] {
  const withUsage = body.stream_options?.include_usage === true
  const base = { id: 'chatcmpl-Conf0rm1', object: 'chat.completion.chunk', created: CREATED, model: body.model, service_tier: 'default', system_fingerprint: 'fp_conform' }
  const c = (delta: object, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
  })
  const out: object[] = []
  if (a.reasoning) {
    out.push(c({ role: 'assistant', content: null, reasoning_content: '' }))
    for (const r of a.reasoning) out.push(c({ content: null, reasoning_content: r }))
  } else {
    // OpenAI opens a tool-call-only answer with content null, a text answer with ''.
    out.push(c({ role: 'assistant', content: a.text ? '' : null, refusal: null }))
  }
  for (const t of a.text ?? []) {
    out.push(c({ content: t }))
    if (partial) return out
  }
  a.calls?.forEach((call, index) => {
    const [head, tail] = fragments(call.args)
    out.push(c({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }))
    out.push(c({ tool_calls: [{ index, function: { arguments: head } }] }))
    out.push(c({ tool_calls: [{ index, function: { arguments: tail } }] }))
  })
  if (partial) return out
  out.push(c({}, CHAT_FINISH[a.stop]))
  if (withUsage) out.push({ ...base, choices: [], usage: chatUsage(a.usage) })
  return out
}

// --- OpenAI Responses ----------------------------------------------------------------------------

function responsesUsage(u: Usage) {
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  }
}

function responseItems(a: Answer, body: any): any[] {
  const items: any[] = []
  if (a.reasoning) {
    const item: any = { id: 'rs_Conf0rm1', type: 'reasoning', summary: [{ type: 'summary_text', text: a.reasoning.join('') }] }
    if (body.include?.includes('reasoning.encrypted_content')) item.encrypted_content = 'gAAAAABconformance-opaque'
    items.push(item)
  }
  if (a.text) {
    const status = a.stop === 'length' ? 'incomplete' : 'completed'
    items.push({ id: 'msg_Conf0rm1', type: 'message', status, role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: a.text.join('') }] })
  }
  for (const c of a.calls ?? []) {
    items.push({ id: `fc_${c.id}`, type: 'function_call', status: 'completed', arguments: JSON.stringify(c.args), call_id: c.id, name: c.name })
  }
  return items
}

export function responseObject(a: Answer, body: any, status: 'in_progress' | 'final' = 'final') {
  const incomplete = a.stop === 'length'
  return {
    id: 'resp_Conf0rm1',
    object: 'response',
    created_at: CREATED,
    status: status === 'in_progress' ? 'in_progress' : incomplete ? 'incomplete' : 'completed',
    background: false,
    error: null,
    incomplete_details: status === 'final' && incomplete ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model,
    output: status === 'in_progress' ? [] : responseItems(a, body),
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: 1,
    truncation: 'disabled',
    usage: status === 'in_progress' ? null : responsesUsage(a.usage),
    user: null,
    metadata: {},
  }
}

/** Responses events `[type, data]` (without sequence numbers); `partial` stops after the first text delta. */
export function responseEvents(a: Answer, body: any, partial = false): Array<[string, any]> {
  const events: Array<[string, any]> = []
  const inProgress = responseObject(a, body, 'in_progress')
  events.push(['response.created', { response: inProgress }], ['response.in_progress', { response: inProgress }])
  const items = responseItems(a, body)
  items.forEach((item, output_index) => {
    const ref = { item_id: item.id, output_index }
    if (item.type === 'reasoning') {
      events.push(['response.output_item.added', { output_index, item: { ...item, summary: [] } }])
      events.push(['response.reasoning_summary_part.added', { ...ref, summary_index: 0, part: { type: 'summary_text', text: '' } }])
      for (const d of a.reasoning!) events.push(['response.reasoning_summary_text.delta', { ...ref, summary_index: 0, delta: d }])
      events.push(['response.reasoning_summary_text.done', { ...ref, summary_index: 0, text: item.summary[0].text }])
      events.push(['response.reasoning_summary_part.done', { ...ref, summary_index: 0, part: item.summary[0] }])
    } else if (item.type === 'message') {
      events.push(['response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } }])
      const part = { ...ref, content_index: 0 }
      events.push(['response.content_part.added', { ...part, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } }])
      for (const d of a.text!) {
        events.push(['response.output_text.delta', { ...part, delta: d, logprobs: [] }])
        if (partial) return
      }
      events.push(['response.output_text.done', { ...part, text: item.content[0].text, logprobs: [] }])
      events.push(['response.content_part.done', { ...part, part: item.content[0] }])
    } else {
      events.push(['response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } }])
      for (const d of fragments(JSON.parse(item.arguments))) events.push(['response.function_call_arguments.delta', { ...ref, delta: d }])
      events.push(['response.function_call_arguments.done', { ...ref, name: item.name, arguments: item.arguments }])
    }
    events.push(['response.output_item.done', { output_index, item }])
  })
  if (partial) return events
  const final = responseObject(a, body)
  events.push([final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final }])
  return events
}

export function responsesSse(events: Array<[string, any]>): string {
  return events.map(([type, data], i) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: i, ...data })}\n\n`).join('')
}

// --- Anthropic Messages ----------------------------------------------------------------------------

const ANTHROPIC_STOP: Record<Stop, string> = { stop: 'end_turn', length: 'max_tokens', tool: 'tool_use' }
export const SIGNATURE = 'EqQBCkgIBhABGAIiQM0nf0rmAnceSignatureOpaqueBytes'

function anthropicUsage(u: Usage, output: number) {
  return {
    input_tokens: u.input - u.cached - CACHE_WRITE,
    cache_creation_input_tokens: CACHE_WRITE,
    cache_read_input_tokens: u.cached,
    output_tokens: output,
    service_tier: 'standard',
  }
}

function anthropicBlocks(a: Answer): any[] {
  const blocks: any[] = []
  if (a.reasoning) blocks.push({ type: 'thinking', thinking: a.reasoning.join(''), signature: SIGNATURE })
  if (a.text) blocks.push({ type: 'text', text: a.text.join('') })
  for (const c of a.calls ?? []) blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.args })
  return blocks
}

export function anthropicMessage(a: Answer, body: any) {
  return {
    id: 'msg_01Conf0rmAnce',
    type: 'message',
    role: 'assistant',
    model: body.model,
    content: anthropicBlocks(a),
    stop_reason: ANTHROPIC_STOP[a.stop],
    stop_sequence: null,
    usage: anthropicUsage(a.usage, a.usage.output),
  }
}

/** Anthropic events: `partial` stops after the first text delta. */
export function anthropicEvents(a: Answer, body: any, partial = false): Array<[string, object]> {
  const events: Array<[string, object]> = [
    ['message_start', { message: { ...anthropicMessage(a, body), content: [], stop_reason: null, usage: anthropicUsage(a.usage, 1) } }],
    ['ping', {}],
  ]
  anthropicBlocks(a).forEach((block, index) => {
    if (block.type === 'thinking') {
      events.push(['content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }])
      for (const d of a.reasoning!) events.push(['content_block_delta', { index, delta: { type: 'thinking_delta', thinking: d } }])
      events.push(['content_block_delta', { index, delta: { type: 'signature_delta', signature: SIGNATURE } }])
    } else if (block.type === 'text') {
      events.push(['content_block_start', { index, content_block: { type: 'text', text: '' } }])
      for (const d of a.text!) {
        events.push(['content_block_delta', { index, delta: { type: 'text_delta', text: d } }])
        if (partial) return
      }
    } else {
      events.push(['content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }])
      for (const d of ['', ...fragments(block.input)]) events.push(['content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: d } }])
    }
    events.push(['content_block_stop', { index }])
  })
  if (partial) return events
  events.push(['message_delta', { delta: { stop_reason: ANTHROPIC_STOP[a.stop], stop_sequence: null }, usage: { output_tokens: a.usage.output } }])
  events.push(['message_stop', {}])
  return events
}

// --- Gemini ----------------------------------------------------------------------------------------

/** The Gemini model behind the Gemini provider; what its answers name as `modelVersion`. */
export const GEMINI_MODEL = 'gemini-3-flash-preview'
const GEMINI_FINISH: Record<Stop, string> = { stop: 'STOP', length: 'MAX_TOKENS', tool: 'STOP' }
/** Opaque base64, with the `+`, `/` and `=` of the real ones. */
export const GEMINI_SIGNATURE = 'EpEgCo4gAb4+9vvWwdN+Conf0rmanceThoughtSignature/OfGemini3+Flash=='
const GEMINI_RESPONSE_ID = 'QHiLaa6LBrb8vdIPConf0rm'

/** Thought parts come only when the request asked for them, as Gemini does. */
export const includesThoughts = (body: any) => body?.generationConfig?.thinkingConfig?.includeThoughts === true

/** `usageMetadata`: the prompt includes cached tokens, candidates exclude thoughts; `candidates` so far in a stream. */
function geminiUsage(u: Usage, candidates = u.output - u.reasoning) {
  return {
    promptTokenCount: u.input,
    cachedContentTokenCount: u.cached,
    candidatesTokenCount: candidates,
    totalTokenCount: u.input + candidates + u.reasoning,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: u.input }],
    cacheTokensDetails: [{ modality: 'TEXT', tokenCount: u.cached }],
    thoughtsTokenCount: u.reasoning,
  }
}

/** A function call as Gemini sends it: no id; the first call of a step carries the signature, the others none. */
const geminiCall = (c: ToolCall, i: number) => ({ functionCall: { name: c.name, args: c.args }, ...(i === 0 ? { thoughtSignature: GEMINI_SIGNATURE } : {}) })

function geminiParts(a: Answer, body: any): any[] {
  const parts: any[] = []
  if (a.reasoning && includesThoughts(body)) parts.push({ text: a.reasoning.join(''), thought: true })
  if (a.text) parts.push({ text: a.text.join('') })
  if (a.calls?.length) parts.push(...a.calls.map(geminiCall))
  // Without a call, the signature sits on the answer's last part.
  else if (parts.length) parts[parts.length - 1] = { ...parts.at(-1), thoughtSignature: GEMINI_SIGNATURE }
  return parts
}

const geminiCandidate = (parts: any[], finish?: string) => ({ content: { parts, role: 'model' }, ...(finish ? { finishReason: finish } : {}), index: 0 })

export function geminiResponse(a: Answer, body: any) {
  return { candidates: [geminiCandidate(geminiParts(a, body), GEMINI_FINISH[a.stop])], usageMetadata: geminiUsage(a.usage), modelVersion: GEMINI_MODEL, responseId: GEMINI_RESPONSE_ID }
}

/**
 * Gemini chunks: each thought and text delta in its own chunk, all calls of the step in one
 * chunk, then an empty text part with the finish reason (and the signature, when no call took
 * it). Every chunk carries the usage so far. `partial` stops after the first text delta.
 */
export function geminiChunks(a: Answer, body: any, partial = false): object[] {
  const steps: any[][] = []
  if (a.reasoning && includesThoughts(body)) for (const r of a.reasoning) steps.push([{ text: r, thought: true }])
  for (const t of a.text ?? []) {
    steps.push([{ text: t }])
    if (partial) break
  }
  if (!partial) {
    if (a.calls?.length) steps.push(a.calls.map(geminiCall))
    steps.push([{ text: '', ...(a.calls?.length ? {} : { thoughtSignature: GEMINI_SIGNATURE }) }])
  }
  const candidates = a.usage.output - a.usage.reasoning
  return steps.map((parts, i) => {
    const last = !partial && i === steps.length - 1
    return {
      candidates: [geminiCandidate(parts, last ? GEMINI_FINISH[a.stop] : undefined)],
      usageMetadata: geminiUsage(a.usage, last ? candidates : Math.min(candidates - 1, i + 1)),
      modelVersion: GEMINI_MODEL,
      responseId: GEMINI_RESPONSE_ID,
    }
  })
}

const GEMINI_JSON = { 'content-type': 'application/json; charset=UTF-8' }

// --- Whole replies ---------------------------------------------------------------------------------

/**
 * The upstream's reply to `body` in its protocol: JSON, or a stream when the request asked for
 * one (in the body; Gemini's in the URL, passed as `stream`).
 */
export function answerReply(protocol: Protocol, a: Answer, body: any, stream = body?.stream === true): Response {
  if (protocol === 'chat') return stream ? new Response(sse([...chatChunks(a, body), '[DONE]']), { headers: SSE_HEADERS }) : Response.json(chatCompletion(a, body))
  if (protocol === 'responses') return stream ? new Response(responsesSse(responseEvents(a, body)), { headers: SSE_HEADERS }) : Response.json(responseObject(a, body))
  if (protocol === 'gemini') return stream ? new Response(geminiSse(geminiChunks(a, body)), { headers: SSE_HEADERS }) : Response.json(geminiResponse(a, body), { headers: GEMINI_JSON })
  return stream ? new Response(anthropicSse(anthropicEvents(a, body)), { headers: SSE_HEADERS }) : Response.json(anthropicMessage(a, body))
}

/** An HTTP 400 in each provider's own error shape, and the message a client must get from it. */
export const BAD_REQUEST_MESSAGE: Record<Protocol, string> = {
  chat: "Invalid 'messages[0].content': string too long. Expected a string with maximum length 10485760.",
  responses: "Invalid value: 'input_textx'. Supported values are: 'input_text', 'input_image', 'output_text'.",
  anthropic: 'messages.0.content.0.text: text content blocks must be non-empty',
  // Recorded from gemini-3.1-pro-preview (vercel/ai issue-22372-live-errors.json).
  gemini: 'Thinking level MINIMAL is not supported for this model. Please retry with other thinking level.',
}
export function badRequestReply(protocol: Protocol): Response {
  if (protocol === 'anthropic') {
    return Response.json({ type: 'error', error: { type: 'invalid_request_error', message: BAD_REQUEST_MESSAGE.anthropic }, request_id: 'req_011Conf0rm' }, { status: 400 })
  }
  if (protocol === 'gemini') return Response.json({ error: { code: 400, message: BAD_REQUEST_MESSAGE.gemini, status: 'INVALID_ARGUMENT' } }, { status: 400, headers: GEMINI_JSON })
  return Response.json({ error: { message: BAD_REQUEST_MESSAGE[protocol], type: 'invalid_request_error', param: 'input', code: 'invalid_value' } }, { status: 400 })
}

/** What each provider says in a mid-stream error event. */
export const STREAM_ERROR_MESSAGE: Record<Protocol, string> = {
  chat: 'The server had an error while processing your request. Sorry about that!',
  responses: 'An error occurred while processing your request. You can retry your request.',
  anthropic: 'Overloaded',
  gemini: 'The model is overloaded. Please try again later.',
}

export type Breakage = 'cut' | 'error event' | 'response.failed'
/** The text a broken stream sends before it goes wrong. */
export const PARTIAL_TEXT = 'Partial '
/**
 * A stream that goes wrong after PARTIAL_TEXT: `cut` ends the connection without a terminal event;
 * `error event` sends the provider's mid-stream error; `response.failed` (Responses only) ends
 * with a failed response.
 */
export function brokenStreamReply(protocol: Protocol, body: any, how: Breakage): Response {
  const a: Answer = { text: [PARTIAL_TEXT, 'answer'], stop: 'stop', usage: USAGE }
  const enc = new TextEncoder()
  const stream = (text: string) => new Response(new ReadableStream({ start: (c) => (c.enqueue(enc.encode(text)), c.close()) }), { headers: SSE_HEADERS })
  if (protocol === 'chat') {
    const lines = chatChunks(a, body, true).map((e) => `data: ${JSON.stringify(e)}\n\n`)
    if (how === 'error event') lines.push(`data: ${JSON.stringify({ error: { message: STREAM_ERROR_MESSAGE.chat, type: 'server_error', param: null, code: null } })}\n\n`)
    return stream(lines.join(''))
  }
  if (protocol === 'responses') {
    const events = responseEvents(a, body, true)
    if (how === 'error event') events.push(['error', { code: 'server_error', message: STREAM_ERROR_MESSAGE.responses, param: null }])
    if (how === 'response.failed') {
      const failed = { ...responseObject(a, body, 'in_progress'), status: 'failed', error: { code: 'server_error', message: STREAM_ERROR_MESSAGE.responses } }
      events.push(['response.failed', { response: failed }])
    }
    return stream(responsesSse(events))
  }
  if (protocol === 'gemini') {
    const chunks = geminiChunks(a, body, true)
    // Google's error object as a chunk of its own, as the GenAI SDK raises it.
    if (how === 'error event') chunks.push({ error: { code: 503, message: STREAM_ERROR_MESSAGE.gemini, status: 'UNAVAILABLE' } })
    return new Response(geminiSse(chunks), { headers: SSE_HEADERS })
  }
  const events = anthropicEvents(a, body, true)
  if (how === 'error event') events.push(['error', { error: { type: 'overloaded_error', message: STREAM_ERROR_MESSAGE.anthropic } }])
  return new Response(anthropicSse(events), { headers: SSE_HEADERS })
}
