/**
 * The client side of the protocol conformance suite: one gateway in front of four mock upstreams
 * (a chat-only OpenAI-compatible provider, a Responses-only one, an Anthropic one, a Gemini one),
 * the official SDKs pointed at it (openai, @anthropic-ai/sdk, @google/genai), one neutral
 * conversation written as each client protocol's request, and the SDK's result read back into one
 * neutral outcome. Everything a client gets is read from what the SDK parsed; nothing is taken from
 * the mock's own answer.
 */
import { expect } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import { GoogleGenAI } from '@google/genai'
import OpenAI from 'openai'
import { CLIENT_KEY, startGateway, type TestGateway } from './gateway.ts'
import { startMockAnthropic, type MockAnthropic } from './mock-anthropic.ts'
import { startMockGemini, type MockGemini } from './mock-gemini.ts'
import { startMockUpstream, type MockUpstream, type SeenRequest } from './mock-upstream.ts'
import { readSeen, type Image, type Seen } from './conformance-seen.ts'
import { answerReply, GEMINI_MODEL, USAGE, type Answer, type Protocol, type Stop, type ToolCall, type Usage } from './conformance-wire.ts'

export type ClientTurn =
  | { role: 'user'; text: string; images?: Image[] }
  | { role: 'assistant'; text: string; calls?: ToolCall[] }
  | { role: 'tool'; callId: string; output: string }

/** A request in no protocol. `system[0]` is Responses' `instructions`, the rest developer items. */
export interface Conversation {
  system?: string[]
  turns: ClientTurn[]
  tools?: boolean
  maxTokens?: number
  reasoning?: boolean
  schema?: boolean
}

export const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
}
export const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, celsius: { type: 'number' } },
  required: ['city', 'celsius'],
  additionalProperties: false,
}

/** Where each provider protocol is served (Gemini: the model and whether to stream are in the path), and the model names on both sides. */
export const UPSTREAM_MODEL: Record<Protocol, string> = { chat: 'gpt-chat-only', responses: 'gpt-responses-only', anthropic: 'claude-sonnet-4-5', gemini: GEMINI_MODEL }
const GEMINI_PATH = (stream: boolean) => `/v1beta/models/${GEMINI_MODEL}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`
const PATH: Record<Exclude<Protocol, 'gemini'>, string> = { chat: '/v1/chat/completions', responses: '/v1/responses', anthropic: '/v1/messages' }
const PROVIDER: Record<Protocol, string> = { chat: 'chatp', responses: 'respp', anthropic: 'claudep', gemini: 'gemp' }
export const MODEL = (p: Protocol) => `${PROVIDER[p]}/${UPSTREAM_MODEL[p]}`
export const GEMINI_UPSTREAM_KEY = 'AIzaSyConf0rmanceUpstreamKey'

/** How an upstream answers: `stream` is what the request asked for (in its body; Gemini's in its URL). */
export type Reply = (protocol: Protocol, body: any, stream: boolean) => Response

export interface Conformance {
  gw: TestGateway
  mocks: { chat: MockUpstream; responses: MockUpstream; anthropic: MockAnthropic; gemini: MockGemini; both: MockUpstream }
  openai: OpenAI
  anthropic: Anthropic
  genai: GoogleGenAI
  /** Bodies the SDKs sent, newest last. */
  sent: any[]
  /** How the upstreams answer the current test. */
  reply: Reply
  /** False when this sluice does not know `api:` yet (the gateway then ran without it). */
  apiField: boolean
  /**
   * The one request the upstream of `provider` got in this test, checked to be on its protocol's
   * path (Gemini's: the one for `stream` when it is given, else either).
   */
  upstream(provider: Protocol, stream?: boolean): SeenRequest
  seen(provider: Protocol): Seen
  answer(a: Answer): void
  reset(): void
  stop(): Promise<void>
}

/** A provider that serves only one protocol answers the other path the way OpenAI does an unknown URL. */
function onlyOn(protocol: Protocol, path: string, state: { reply: Reply }) {
  return (_req: Request, body: any, seen: SeenRequest) => {
    if (seen.path.split('?')[0] !== path) {
      return Response.json({ error: { message: `Invalid URL (POST ${seen.path})`, type: 'invalid_request_error', param: null, code: null } }, { status: 404 })
    }
    return state.reply(protocol, body, body?.stream === true)
  }
}

/** Gemini answers generateContent and streamGenerateContent with `alt=sse`, and an unknown path the way Google does. */
function geminiOnly(state: { reply: Reply }) {
  return (_req: Request, body: any, seen: SeenRequest) => {
    const m = /^\/v1beta\/models\/[^/:]+:(generateContent|streamGenerateContent\?alt=sse)$/.exec(seen.path)
    if (!m) return Response.json({ error: { code: 404, message: `The requested URL ${seen.path} was not found on this server.`, status: 'NOT_FOUND' } }, { status: 404 })
    return state.reply('gemini', body, m[1] !== 'generateContent')
  }
}

export async function startConformance(): Promise<Conformance> {
  const mocks = { chat: startMockUpstream(), responses: startMockUpstream(), anthropic: startMockAnthropic(), gemini: startMockGemini([GEMINI_MODEL]), both: startMockUpstream() }
  const noReply: Reply = () => Response.json({ error: { message: 'the test set no reply', type: 'server_error', param: null, code: null } }, { status: 500 })
  const state = { reply: noReply }
  mocks.chat.handler = onlyOn('chat', PATH.chat, state)
  mocks.responses.handler = onlyOn('responses', PATH.responses, state)
  mocks.anthropic.handler = onlyOn('anthropic', PATH.anthropic, state)
  mocks.gemini.handler = geminiOnly(state)
  mocks.both.handler = (_req, body, seen) => state.reply(seen.path === PATH.responses ? 'responses' : 'chat', body, body?.stream === true)

  const providers = [
    { name: PROVIDER.chat, type: 'openai', base_url: mocks.chat.baseUrl, keys: ['sk-chat-upstream'], models: [UPSTREAM_MODEL.chat], api: 'chat' },
    { name: PROVIDER.responses, type: 'openai', base_url: mocks.responses.baseUrl, keys: ['sk-resp-upstream'], models: [UPSTREAM_MODEL.responses], api: 'responses' },
    { name: PROVIDER.anthropic, type: 'anthropic', base_url: mocks.anthropic.url, keys: ['sk-ant-upstream'], models: [UPSTREAM_MODEL.anthropic] },
    { name: PROVIDER.gemini, type: 'gemini', base_url: mocks.gemini.url, keys: [GEMINI_UPSTREAM_KEY], models: [UPSTREAM_MODEL.gemini] },
    { name: 'bothp', type: 'openai', base_url: mocks.both.baseUrl, keys: ['sk-both-upstream'], models: ['gpt-both'], api: 'both' },
    // No `api`: auto, which is chat for any host but api.openai.com.
    { name: 'autop', type: 'openai', base_url: mocks.chat.baseUrl, keys: ['sk-auto-upstream'], models: ['gpt-auto'] },
  ]
  const config = (withApi: boolean) => ({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: providers.map(({ api, ...p }: any) => (withApi && api ? { ...p, api } : p)),
  })
  let gw: TestGateway
  let apiField = true
  try {
    gw = await startGateway(config(true))
  } catch (err) {
    // Until the feature lands the config schema refuses `api`; run what can run without it.
    if (!/providers\[\d+\]\.api: unknown field/.test(String(err))) throw err
    apiField = false
    gw = await startGateway(config(false))
  }
  const sent: any[] = []
  const recording = (async (input: any, init?: any) => {
    if (typeof init?.body === 'string') sent.push(JSON.parse(init.body))
    return fetch(input, init)
  }) as typeof fetch
  const c: Conformance = {
    gw,
    mocks,
    openai: new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0, fetch: recording }),
    anthropic: new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0, fetch: recording }),
    // The GenAI SDK retries only when told to (httpOptions.retryOptions); its default API version (v1 in 3.x).
    genai: new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.url, fetch: recording } }),
    sent,
    get reply() {
      return state.reply
    },
    set reply(r: Reply) {
      state.reply = r
    },
    apiField,
    upstream(provider, stream) {
      const requests = mocks[provider].requests
      if (provider === 'gemini') {
        const paths = stream === undefined ? [GEMINI_PATH(false), GEMINI_PATH(true)] : [GEMINI_PATH(stream)]
        expect(requests.map((r) => `${r.method} ${paths.includes(r.path) ? paths[0] : r.path}`)).toEqual([`POST ${paths[0]}`])
        expect(requests[0]!.headers['x-goog-api-key']).toBe(GEMINI_UPSTREAM_KEY)
      } else {
        expect(requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([`POST ${PATH[provider]}`])
      }
      return requests[0]!
    },
    seen(provider) {
      const r = c.upstream(provider)
      return readSeen(provider, r.body, r.path)
    },
    answer(a) {
      state.reply = (protocol, body, stream) => answerReply(protocol, a, body, stream)
    },
    reset() {
      for (const m of Object.values(mocks)) m.requests.length = 0
      sent.length = 0
      state.reply = noReply
    },
    async stop() {
      await gw.stop()
      for (const m of Object.values(mocks)) m.stop()
    },
  }
  return c
}

// --- the conversation as each client protocol's request -------------------------------------------

const dataUrlOf = (i: Image) => `data:${i.mediaType};base64,${i.data}`

export function chatRequest(conv: Conversation, model: string): any {
  const messages: any[] = (conv.system ?? []).map((text, i) => ({ role: i === 0 ? 'system' : 'developer', content: text }))
  for (const t of conv.turns) {
    if (t.role === 'user') {
      messages.push({ role: 'user', content: t.images ? [{ type: 'text', text: t.text }, ...t.images.map((i) => ({ type: 'image_url', image_url: { url: dataUrlOf(i) } }))] : t.text })
    } else if (t.role === 'assistant') {
      const calls = t.calls?.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.args) } }))
      messages.push({ role: 'assistant', content: t.text || null, ...(calls ? { tool_calls: calls } : {}) })
    } else {
      messages.push({ role: 'tool', tool_call_id: t.callId, content: t.output })
    }
  }
  return {
    model,
    messages,
    ...(conv.tools ? { tools: [{ type: 'function', function: WEATHER_TOOL }] } : {}),
    ...(conv.maxTokens ? { max_completion_tokens: conv.maxTokens } : {}),
    ...(conv.reasoning ? { reasoning_effort: 'medium' } : {}),
    ...(conv.schema ? { response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: WEATHER_SCHEMA, strict: true } } } : {}),
  }
}

export function responsesRequest(conv: Conversation, model: string): any {
  const [instructions, ...developer] = conv.system ?? []
  const input: any[] = developer.map((text) => ({ type: 'message', role: 'developer', content: text }))
  for (const t of conv.turns) {
    if (t.role === 'user') {
      const images = (t.images ?? []).map((i) => ({ type: 'input_image', image_url: dataUrlOf(i), detail: 'auto' }))
      input.push({ type: 'message', role: 'user', content: [{ type: 'input_text', text: t.text }, ...images] })
    } else if (t.role === 'assistant') {
      // History as clients replay it: the assistant's output_text, then its calls (item ids differ from call ids).
      if (t.text) input.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: t.text, annotations: [] }] })
      for (const c of t.calls ?? []) input.push({ type: 'function_call', id: `fc_${c.id.replace(/^call_/, '')}x`, call_id: c.id, name: c.name, arguments: JSON.stringify(c.args) })
    } else {
      input.push({ type: 'function_call_output', call_id: t.callId, output: t.output })
    }
  }
  return {
    model,
    ...(instructions ? { instructions } : {}),
    input,
    ...(conv.tools ? { tools: [{ type: 'function', ...WEATHER_TOOL, strict: false }] } : {}),
    ...(conv.maxTokens ? { max_output_tokens: conv.maxTokens } : {}),
    ...(conv.reasoning ? { reasoning: { effort: 'medium', summary: 'auto' } } : {}),
    ...(conv.schema ? { text: { format: { type: 'json_schema', name: 'weather', schema: WEATHER_SCHEMA, strict: true } } } : {}),
  }
}

export function anthropicRequest(conv: Conversation, model: string): any {
  const messages: any[] = []
  for (const t of conv.turns) {
    if (t.role === 'user') {
      const images = (t.images ?? []).map((i) => ({ type: 'image', source: { type: 'base64', media_type: i.mediaType, data: i.data } }))
      messages.push({ role: 'user', content: images.length ? [...images, { type: 'text', text: t.text }] : t.text })
    } else if (t.role === 'assistant') {
      const blocks: any[] = t.text ? [{ type: 'text', text: t.text }] : []
      for (const c of t.calls ?? []) blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.args })
      messages.push({ role: 'assistant', content: blocks })
    } else {
      // Results of one turn's calls go back together in one user message.
      const result = { type: 'tool_result', tool_use_id: t.callId, content: t.output }
      const last = messages.at(-1)
      if (last?.role === 'user' && Array.isArray(last.content) && last.content.every((b: any) => b.type === 'tool_result')) last.content.push(result)
      else messages.push({ role: 'user', content: [result] })
    }
  }
  return {
    model,
    max_tokens: conv.maxTokens ?? (conv.reasoning ? 4096 : 1024),
    ...(conv.system ? { system: conv.system.map((text) => ({ type: 'text', text })) } : {}),
    messages,
    ...(conv.tools ? { tools: [{ name: WEATHER_TOOL.name, description: WEATHER_TOOL.description, input_schema: WEATHER_TOOL.parameters }] } : {}),
    ...(conv.reasoning ? { thinking: { type: 'enabled', budget_tokens: 2048 } } : {}),
    ...(conv.schema ? { output_config: { format: { type: 'json_schema', schema: WEATHER_SCHEMA } } } : {}),
  }
}

/**
 * The parameters of `models.generateContent` (the SDK writes the body: `config` becomes
 * generationConfig, systemInstruction, tools). Calls have no ids, as Gemini's own have none; a
 * result goes back as a functionResponse with its call's name, all of a turn's in one user
 * content, in call order.
 */
export function geminiRequest(conv: Conversation, model: string): any {
  const contents: any[] = []
  const push = (role: 'user' | 'model', parts: any[]) => {
    const last = contents.at(-1)
    if (last?.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }
  const names = new Map<string, string>()
  for (const t of conv.turns) {
    if (t.role === 'user') {
      push('user', [{ text: t.text }, ...(t.images ?? []).map((i) => ({ inlineData: { mimeType: i.mediaType, data: i.data } }))])
    } else if (t.role === 'assistant') {
      for (const c of t.calls ?? []) names.set(c.id, c.name)
      push('model', [...(t.text ? [{ text: t.text }] : []), ...(t.calls ?? []).map((c) => ({ functionCall: { name: c.name, args: c.args } }))])
    } else {
      push('user', [{ functionResponse: { name: names.get(t.callId) ?? 'unknown', response: { output: t.output } } }])
    }
  }
  const config: any = {
    ...(conv.system ? { systemInstruction: { parts: conv.system.map((text) => ({ text })) } } : {}),
    ...(conv.tools ? { tools: [{ functionDeclarations: [{ name: WEATHER_TOOL.name, description: WEATHER_TOOL.description, parametersJsonSchema: WEATHER_TOOL.parameters }] }] } : {}),
    ...(conv.maxTokens ? { maxOutputTokens: conv.maxTokens } : {}),
    ...(conv.reasoning ? { thinkingConfig: { includeThoughts: true, thinkingLevel: 'MEDIUM' } } : {}),
    ...(conv.schema ? { responseMimeType: 'application/json', responseJsonSchema: WEATHER_SCHEMA } : {}),
  }
  return { model, contents, ...(Object.keys(config).length ? { config } : {}) }
}

export function requestFor(client: Protocol, conv: Conversation, model: string): any {
  if (client === 'gemini') return geminiRequest(conv, model)
  return client === 'chat' ? chatRequest(conv, model) : client === 'responses' ? responsesRequest(conv, model) : anthropicRequest(conv, model)
}

// --- running a client and reading what its SDK parsed ----------------------------------------------

/** What a client got, in no protocol. `stop` is the protocol's own value when it is none of the three. `usage.reasoning` is 0 where the protocol has no such count (Anthropic). */
export interface Outcome {
  reasoning: string
  text: string
  calls: ToolCall[]
  stop: Stop | string
  usage?: Usage & { total: number }
}

export interface ClientResult {
  outcome: Outcome
  /** The SDK's final object (chat completion, Response, Message, GenerateContentResponse; a Gemini stream's last chunk). */
  final: any
  /** Stream events (chunks, Responses events, Anthropic events, Gemini chunks) as the SDK yielded them. */
  events: any[]
}

const CHAT_STOP: Record<string, Stop> = { stop: 'stop', length: 'length', tool_calls: 'tool' }
const ANTHROPIC_STOP: Record<string, Stop> = { end_turn: 'stop', max_tokens: 'length', tool_use: 'tool' }

function fromChatCompletion(res: any, streamedReasoning?: string): Outcome {
  const choice = res.choices[0]
  const u = res.usage
  return {
    reasoning: streamedReasoning ?? choice.message.reasoning_content ?? '',
    text: choice.message.content ?? '',
    calls: (choice.message.tool_calls ?? []).map((c: any) => ({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments) })),
    stop: CHAT_STOP[choice.finish_reason] ?? choice.finish_reason,
    usage: u && { input: u.prompt_tokens, cached: u.prompt_tokens_details?.cached_tokens ?? 0, output: u.completion_tokens, reasoning: u.completion_tokens_details?.reasoning_tokens ?? 0, total: u.total_tokens },
  }
}

function fromResponse(res: any): Outcome {
  expect(res.object).toBe('response')
  for (const item of res.output) expect(typeof item.id === 'string' && item.id.length > 0).toBe(true)
  const calls = res.output.filter((i: any) => i.type === 'function_call').map((i: any) => ({ id: i.call_id, name: i.name, args: JSON.parse(i.arguments) }))
  const text = res.output.filter((i: any) => i.type === 'message').flatMap((i: any) => i.content).filter((p: any) => p.type === 'output_text').map((p: any) => p.text).join('')
  expect(res.output_text).toBe(text)
  const u = res.usage
  const incomplete = res.incomplete_details?.reason
  return {
    reasoning: res.output.filter((i: any) => i.type === 'reasoning').flatMap((i: any) => i.summary.map((s: any) => s.text)).join(''),
    text,
    calls,
    stop: res.status === 'completed' ? (calls.length ? 'tool' : 'stop') : res.status === 'incomplete' && incomplete === 'max_output_tokens' ? 'length' : `${res.status} ${incomplete ?? ''}`.trim(),
    usage: u && { input: u.input_tokens, cached: u.input_tokens_details?.cached_tokens, output: u.output_tokens, reasoning: u.output_tokens_details?.reasoning_tokens ?? 0, total: u.total_tokens },
  }
}

function fromMessage(msg: any): Outcome {
  expect([msg.type, msg.role]).toEqual(['message', 'assistant'])
  const of = (type: string) => msg.content.filter((b: any) => b.type === type)
  const u = msg.usage
  const input = u && u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0)
  return {
    reasoning: of('thinking').map((b: any) => b.thinking).join(''),
    text: of('text').map((b: any) => b.text).join(''),
    calls: of('tool_use').map((b: any) => ({ id: b.id, name: b.name, args: b.input })),
    stop: ANTHROPIC_STOP[msg.stop_reason] ?? msg.stop_reason,
    usage: u && { input, cached: u.cache_read_input_tokens ?? 0, output: u.output_tokens, reasoning: 0, total: input + u.output_tokens },
  }
}

const GEMINI_STOP: Record<string, Stop> = { MAX_TOKENS: 'length' }

/** One model turn's parts (a whole answer's, or a stream's chunks' together); STOP with a call is a tool stop. */
function fromGeminiParts(parts: any[], finishReason: string | undefined, u: any): Outcome {
  const texts = (thought: boolean) => parts.filter((p) => typeof p?.text === 'string' && (p.thought === true) === thought).map((p) => p.text).join('')
  const calls = parts.filter((p) => p?.functionCall).map((p) => ({ id: p.functionCall.id ?? '', name: p.functionCall.name, args: p.functionCall.args }))
  const thoughts = u?.thoughtsTokenCount ?? 0
  return {
    reasoning: texts(true),
    text: texts(false),
    calls,
    stop: finishReason === 'STOP' ? (calls.length ? 'tool' : 'stop') : (GEMINI_STOP[finishReason ?? ''] ?? String(finishReason)),
    usage: u && { input: u.promptTokenCount, cached: u.cachedContentTokenCount ?? 0, output: (u.candidatesTokenCount ?? 0) + thoughts, reasoning: thoughts, total: u.totalTokenCount },
  }
}

/** The model turn a Gemini client keeps from its answer (and sends back in `contents`): the stream's parts together, empty unsigned text parts left out. */
export function geminiContent(result: ClientResult, stream: boolean): any {
  const parts = stream ? result.events.flatMap((ch) => ch.candidates?.[0]?.content?.parts ?? []) : (result.final.candidates?.[0]?.content?.parts ?? [])
  return { role: 'model', parts: parts.filter((p: any) => !(p.text === '' && !p.thoughtSignature && Object.keys(p).length === 1)) }
}

/**
 * What a Gemini client got: a GenerateContentResponse, or a stream's chunks (`final` its last one),
 * with the checks the GenAI SDK and Gemini CLI rely on.
 */
export function geminiResult(final: any, events: any[], stream: boolean): ClientResult {
  if (!stream) {
    expect(final.candidates?.length).toBe(1)
    const candidate: any = final.candidates![0]
    expect(candidate.content.role).toBe('model')
    const outcome = fromGeminiParts(candidate.content.parts ?? [], candidate.finishReason, final.usageMetadata)
    // The SDK's own accessors agree (they skip thought parts).
    if (outcome.calls.length === 0) expect(final.text ?? '').toBe(outcome.text)
    return { outcome, final, events }
  }
  expect(events.length).toBeGreaterThan(0)
  const candidates = events.map((ch) => ch.candidates?.[0])
  for (const cand of candidates) if (cand?.content) expect(cand.content.role).toBe('model')
  // The finish reason comes once, on the last chunk (the GenAI SDK and Gemini CLI read it there).
  expect(candidates.map((cand) => cand?.finishReason ?? null).slice(0, -1).filter(Boolean)).toEqual([])
  const finishReason = candidates.at(-1)?.finishReason
  expect(finishReason).toBeString()
  // A functionCall arrives whole: arguments as an object, never fragments.
  for (const cand of candidates) for (const p of cand?.content?.parts ?? []) if (p.functionCall) expect(typeof p.functionCall.args).toBe('object')
  // Usage repeats, cumulative: the last one counts.
  const usage = events.findLast((ch) => ch.usageMetadata)?.usageMetadata
  const result = { final, events } as ClientResult
  return { ...result, outcome: fromGeminiParts(geminiContent(result, true).parts, finishReason, usage) }
}

/**
 * Sends `body` with the client's SDK: `create` when not streamed; streamed, the SDK's stream helper
 * (`chat.completions.stream`, `responses.stream` + `finalResponse()`, `messages.stream` +
 * `finalMessage()`), whose own accumulation and checks decide what the client got. `events` fills
 * as the stream goes, so it is there when the SDK rejects.
 */
export async function sendWith(c: Conformance, client: Protocol, body: any, stream: boolean, events: any[] = []): Promise<ClientResult> {
  if (client === 'gemini') {
    if (!stream) return geminiResult(await c.genai.models.generateContent(body), events, false)
    for await (const chunk of await c.genai.models.generateContentStream(body)) events.push(chunk)
    return geminiResult(events.at(-1), events, true)
  }
  if (client === 'chat') {
    if (!stream) {
      const final = await c.openai.chat.completions.create(body)
      return { outcome: fromChatCompletion(final), final, events }
    }
    const runner = c.openai.chat.completions.stream({ ...body, stream_options: { include_usage: true } })
    runner.on('chunk', (chunk) => events.push(chunk))
    const final = await runner.finalChatCompletion()
    // The helper keeps only the last reasoning_content fragment (it is not a standard field): join them here.
    const reasoning = events.map((e) => e.choices[0]?.delta?.reasoning_content ?? '').join('')
    return { outcome: fromChatCompletion(final, reasoning), final, events }
  }
  if (client === 'responses') {
    if (!stream) {
      const final = await c.openai.responses.create(body)
      return { outcome: fromResponse(final), final, events }
    }
    const runner = c.openai.responses.stream(body)
    runner.on('event', (e) => events.push(e))
    // The SDK's running snapshots, which a UI shows while the answer streams.
    const snapshots: Array<{ item: string; snapshot: string }> = []
    runner.on('response.output_text.delta', (e) => snapshots.push({ item: e.item_id, snapshot: e.snapshot }))
    runner.on('response.function_call_arguments.delta', (e) => snapshots.push({ item: e.item_id, snapshot: e.snapshot }))
    const final = await runner.finalResponse()
    const outcome = fromResponse(final)
    for (const { item, snapshot } of snapshots) {
      const done = (final.output as any[]).find((i) => i.id === item)
      const whole = done?.type === 'function_call' ? done.arguments : done?.content?.map((p: any) => p.text ?? '').join('')
      // Each snapshot is the start of the final value (an item opened with arguments "{}" is not).
      expect(String(whole).slice(0, snapshot.length)).toBe(snapshot)
    }
    // What a streaming client renders comes from the deltas: they must add up to the final response.
    const joined = (type: string) => events.filter((e) => e.type === type).map((e) => e.delta).join('')
    expect(joined('response.output_text.delta')).toBe(outcome.text)
    expect(joined('response.reasoning_summary_text.delta')).toBe(outcome.reasoning)
    for (const item of (final.output as any[]).filter((i) => i.type === 'function_call')) {
      const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta' && e.item_id === item.id).map((e) => e.delta)
      expect(deltas.join('')).toBe(item.arguments)
    }
    return { outcome, final, events }
  }
  if (!stream) {
    const final = await c.anthropic.messages.create(body)
    return { outcome: fromMessage(final), final, events }
  }
  const runner = c.anthropic.messages.stream(body)
  runner.on('streamEvent', (e) => events.push(e))
  const final = await runner.finalMessage()
  return { outcome: fromMessage(final), final, events }
}

export function run(c: Conformance, client: Protocol, provider: Protocol, conv: Conversation, stream: boolean): Promise<ClientResult> {
  return sendWith(c, client, requestFor(client, conv, MODEL(provider)), stream)
}

/** What the client must get for an answer (usage is checked on its own). */
export function expected(a: Answer): Omit<Outcome, 'usage'> {
  return { reasoning: a.reasoning?.join('') ?? '', text: a.text?.join('') ?? '', calls: a.calls ?? [], stop: a.stop }
}
export function withoutUsage({ usage: _, ...rest }: Outcome): Omit<Outcome, 'usage'> {
  return rest
}

/**
 * The client got the answer: reasoning, text, calls in order, stop. Call ids are the provider's
 * own, except where Gemini is on either side: a Gemini answer has none, so the gateway makes them
 * (present, distinct, and for Anthropic `^[a-zA-Z0-9_-]+$`); a Gemini client needs none (any it
 * gets must be distinct, for functionResponse.id).
 */
export function expectAnswer(client: Protocol, provider: Protocol, outcome: Outcome, a: Answer): void {
  const got = withoutUsage(outcome)
  const want = expected(a)
  if (client !== 'gemini' && provider !== 'gemini') return void expect(got).toEqual(want)
  const idless = (o: Omit<Outcome, 'usage'>) => ({ ...o, calls: o.calls.map(({ id: _, ...rest }) => rest) })
  expect(idless(got)).toEqual(idless(want))
  const ids = got.calls.map((call) => call.id).filter((id) => client !== 'gemini' || id)
  expect(new Set(ids).size).toBe(ids.length)
  if (client !== 'gemini') for (const id of ids) expect(id).toMatch(client === 'anthropic' ? /^[a-zA-Z0-9_-]+$/ : /^\S+$/)
}

/**
 * USAGE as the client must see it, in its protocol's convention (read back to OpenAI's): thought
 * tokens where both the provider reports them and the client protocol has a field for them.
 */
export function expectedUsage(client: Protocol, provider: Protocol): Usage & { total: number } {
  const thoughts = client !== 'anthropic' && provider !== 'anthropic'
  return { ...USAGE, reasoning: thoughts ? USAGE.reasoning : 0, total: USAGE.input + USAGE.output }
}

export const pairName = (client: Protocol, provider: Protocol) => `${client} client -> ${provider} provider`
