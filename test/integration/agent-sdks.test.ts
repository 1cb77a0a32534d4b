import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createAnthropic } from '@ai-sdk/anthropic'
import { createOpenAI } from '@ai-sdk/openai'
import { Agent, OpenAIProvider, run, setDefaultModelProvider, setTracingDisabled, tool as agentTool } from '@openai/agents'
import { generateText, isStepCount, streamText, tool, type LanguageModel } from 'ai'
import { z } from 'zod'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { anthropicSse, startMockAnthropic, type MockAnthropic } from '../helpers/mock-anthropic.ts'
import { chunk, MOCK_USAGE, sse, startMockUpstream, type MockUpstream, type SeenRequest } from '../helpers/mock-upstream.ts'

// Two agent SDKs from npm, unchanged, through sluice: the Vercel AI SDK (its Responses model, its
// chat model and its Anthropic provider) and the OpenAI Agents SDK (Responses by default). Each
// runs a real tool loop: the mock upstream asks for the tool with arguments taken from the prompt,
// the SDK runs the tool, sends the result back, and the mock answers with what the tool returned.

let chatMock: MockUpstream
let claude: MockAnthropic
let gw: TestGateway

/** Every URL anything in this process fetched; a host other than 127.0.0.1 is refused. */
const fetched: string[] = []
const foreign: string[] = []
const realFetch = globalThis.fetch

/** Tool call ids the mocks handed out, newest last. */
const issued: string[] = []
const rid = () => crypto.randomUUID().replaceAll('-', '').slice(0, 16)

const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((p: any) => (typeof p === 'string' ? p : (p?.text ?? ''))).join('')
      : ''

/** The city the user asked about ("... weather in Lyon?"): what the mock asks the tool for. */
const cityIn = (text: string) => /weather in (\w+)/i.exec(text)?.[1] ?? 'nowhere'

/** The forecast the tool returned: a JSON object's `forecast`, or the tool's plain string. */
function forecastIn(output: string): string {
  try {
    const v = JSON.parse(output)
    if (v && typeof v === 'object' && typeof v.forecast === 'string') return v.forecast
    if (typeof v === 'string') return v
  } catch {}
  return output
}

const answer = (city: string, forecast: string) => `${city} will be ${forecast}.`
const CLAUDE_PREFACE = 'Let me check the weather.'

/** An OpenAI-compatible chat-only upstream: a tool call first, the answer once a tool result is there. */
function chatUpstream(_req: Request, body: any): Response {
  if (!Array.isArray(body?.messages)) return Response.json({ error: { message: 'messages required', type: 'invalid_request_error' } }, { status: 400 })
  const city = cityIn(textOf(body.messages.find((m: any) => m.role === 'user')?.content))
  const result = body.messages.findLast((m: any) => m.role === 'tool')
  const usage = body.stream_options?.include_usage ? { usage: null } : {}
  const usageChunk = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1700000000, model: body.model, choices: [], usage: MOCK_USAGE }
  const done = (events: Array<object | string>) => {
    if (body.stream_options?.include_usage) events.push(usageChunk)
    events.push('[DONE]')
    return new Response(sse(events), { headers: { 'content-type': 'text/event-stream' } })
  }
  if (!result) {
    const name = body.tools?.[0]?.function?.name
    if (!name) return Response.json({ error: { message: 'this mock needs a tool', type: 'invalid_request_error' } }, { status: 400 })
    const id = `call_${rid()}`
    issued.push(id)
    const args = JSON.stringify({ city })
    if (body.stream) {
      const cut = Math.floor(args.length / 2)
      return done([
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: '' } }] }, null, usage),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, cut) } }] }, null, usage),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(cut) } }] }, null, usage),
        chunk({}, 'tool_calls', usage),
      ])
    }
    return Response.json({
      id: 'chatcmpl-mock', object: 'chat.completion', created: 1700000000, model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id, type: 'function', function: { name, arguments: args } }] }, finish_reason: 'tool_calls', logprobs: null }],
      usage: MOCK_USAGE,
    })
  }
  const text = answer(city, forecastIn(textOf(result.content)))
  if (body.stream) {
    const cut = Math.floor(text.length / 2)
    return done([
      chunk({ role: 'assistant', content: '' }, null, usage),
      chunk({ content: text.slice(0, cut) }, null, usage),
      chunk({ content: text.slice(cut) }, null, usage),
      chunk({}, 'stop', usage),
    ])
  }
  return Response.json({
    id: 'chatcmpl-mock', object: 'chat.completion', created: 1700000000, model: body.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: MOCK_USAGE,
  })
}

/** An Anthropic Messages upstream: text then tool_use first, the answer once a tool_result is there. */
function anthropicUpstream(_req: Request, body: any): Response {
  if (!Array.isArray(body?.messages)) return Response.json({ type: 'error', error: { type: 'invalid_request_error', message: 'messages required' } }, { status: 400 })
  const city = cityIn(textOf(body.messages.find((m: any) => m.role === 'user')?.content))
  const last = body.messages.at(-1)
  const result = Array.isArray(last?.content) ? last.content.findLast((b: any) => b.type === 'tool_result') : undefined
  const start = { id: `msg_${rid()}`, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 20, cache_read_input_tokens: 5, cache_creation_input_tokens: 2, output_tokens: 1 } }
  let content: any[]
  if (!result) {
    const name = body.tools?.[0]?.name
    if (!name) return Response.json({ type: 'error', error: { type: 'invalid_request_error', message: 'this mock needs a tool' } }, { status: 400 })
    const id = `toolu_01${rid()}`
    issued.push(id)
    content = [{ type: 'text', text: CLAUDE_PREFACE }, { type: 'tool_use', id, name, input: { city } }]
  } else {
    content = [{ type: 'text', text: answer(city, forecastIn(textOf(result.content))) }]
  }
  const stop = result ? 'end_turn' : 'tool_use'
  if (!body.stream) {
    return Response.json({ ...start, content, stop_reason: stop, usage: { ...start.usage, output_tokens: 9 } })
  }
  const events: Array<[string, object]> = [['message_start', { message: start }], ['ping', {}]]
  content.forEach((block, index) => {
    if (block.type === 'text') {
      const cut = Math.floor(block.text.length / 2)
      events.push(
        ['content_block_start', { index, content_block: { type: 'text', text: '' } }],
        ['content_block_delta', { index, delta: { type: 'text_delta', text: block.text.slice(0, cut) } }],
        ['content_block_delta', { index, delta: { type: 'text_delta', text: block.text.slice(cut) } }],
      )
    } else {
      const json = JSON.stringify(block.input)
      events.push(
        ['content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }],
        ['content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } }],
        ['content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(0, 5) } }],
        ['content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(5) } }],
      )
    }
    events.push(['content_block_stop', { index }])
  })
  events.push(['message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 9 } }], ['message_stop', {}])
  return new Response(anthropicSse(events), { headers: { 'content-type': 'text/event-stream' } })
}

beforeAll(async () => {
  // The AI SDK prints a warning per call for the unknown model's default max tokens; not what is tested.
  ;(globalThis as any).AI_SDK_LOG_WARNINGS = false
  globalThis.fetch = Object.assign(
    (input: any, init?: any) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
      fetched.push(url)
      if (new URL(url).hostname !== '127.0.0.1') {
        foreign.push(url)
        return Promise.reject(new Error(`test refuses to reach ${url}`))
      }
      return realFetch(input, init)
    },
    realFetch,
  ) as typeof fetch
  chatMock = startMockUpstream()
  chatMock.handler = chatUpstream
  claude = startMockAnthropic()
  claude.handler = anthropicUpstream
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'chat', type: 'openai', base_url: chatMock.baseUrl, keys: ['k-chat'], models: ['chat-model'], api: 'chat' },
      { name: 'claude', type: 'anthropic', base_url: claude.url, keys: ['k-ant'], models: ['claude-test'] },
    ],
  })
  // The Agents SDK: no trace export (it would go to api.openai.com), models through sluice.
  setTracingDisabled(true)
  setDefaultModelProvider(new OpenAIProvider({ apiKey: CLIENT_KEY, baseURL: gw.baseURL }))
})

afterAll(async () => {
  setDefaultModelProvider(new OpenAIProvider({ cacheResponsesWebSocketModels: false }))
  globalThis.fetch = realFetch
  delete (globalThis as any).AI_SDK_LOG_WARNINGS
  await gw?.stop()
  chatMock?.stop()
  claude?.stop()
})

/** What one SDK run did: the requests the gateway got and what each upstream received. */
function watch() {
  const gwFrom = fetched.length
  const chatFrom = chatMock.requests.length
  const claudeFrom = claude.requests.length
  const issuedFrom = issued.length
  return {
    /** Paths the SDK called on sluice. */
    gatewayPaths: () => fetched.slice(gwFrom).filter((u) => u.startsWith(gw.url)).map((u) => new URL(u).pathname),
    chat: () => chatMock.requests.slice(chatFrom).filter((r) => r.path === '/v1/chat/completions'),
    claude: () => claude.requests.slice(claudeFrom).filter((r) => r.path === '/v1/messages'),
    /** The tool call id the upstream issued in this run. */
    callId: () => {
      expect(issued.length - issuedFrom).toBe(1)
      return issued.at(-1)!
    },
  }
}

/** The second chat request carries the assistant's tool call and the tool message with the result. */
function expectChatToolRound(reqs: SeenRequest[], callId: string, city: string, output: (content: string) => void, stream: boolean) {
  expect(reqs.length).toBe(2)
  for (const r of reqs) {
    expect(r.body.stream === true).toBe(stream)
    expect(r.body.tools).toEqual([expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'get_weather' }) })])
    expect(r.body.tools[0].function.parameters.properties).toEqual({ city: { type: 'string' } })
  }
  const messages = reqs[1]!.body.messages
  const assistant = messages.at(-2)
  expect(assistant).toMatchObject({ role: 'assistant', tool_calls: [{ id: callId, type: 'function', function: { name: 'get_weather' } }] })
  expect(assistant.tool_calls).toHaveLength(1)
  expect(JSON.parse(assistant.tool_calls[0].function.arguments)).toEqual({ city })
  const toolMessage = messages.at(-1)
  expect(toolMessage).toMatchObject({ role: 'tool', tool_call_id: callId })
  output(textOf(toolMessage.content))
  expect(messages.filter((m: any) => m.role === 'user').map((m: any) => textOf(m.content))).toEqual([`What is the weather in ${city}?`])
}

/** The second Messages request carries the tool_use and a user turn with the tool_result. */
function expectClaudeToolRound(reqs: SeenRequest[], callId: string, city: string, output: (content: string) => void, stream: boolean) {
  expect(reqs.length).toBe(2)
  for (const r of reqs) {
    expect(r.body.stream === true).toBe(stream)
    expect(r.body.tools).toEqual([expect.objectContaining({ name: 'get_weather', input_schema: expect.objectContaining({ type: 'object', properties: { city: { type: 'string' } } }) })])
  }
  const messages = reqs[1]!.body.messages
  expect(messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user'])
  expect(textOf(messages[0].content)).toBe(`What is the weather in ${city}?`)
  const toolUses = messages[1].content.filter((b: any) => b.type === 'tool_use')
  expect(toolUses).toEqual([{ type: 'tool_use', id: callId, name: 'get_weather', input: { city } }])
  const results = messages[2].content
  expect(results).toHaveLength(1)
  expect(results[0]).toMatchObject({ type: 'tool_result', tool_use_id: callId })
  output(textOf(results[0].content))
}

/** The AI SDK tool: records each execution and returns a forecast made up on the spot. */
function weatherTool(runs: Array<{ city: string; forecast: string }>) {
  return tool({
    description: 'The current weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      const forecast = `sunny-${rid()}`
      runs.push({ city, forecast })
      return { city, forecast }
    },
  })
}

type Upstream = 'chat' | 'claude'

/** Runs generateText or streamText with one tool and checks the SDK result and both upstream requests. */
async function aiSdkToolLoop(model: LanguageModel, upstream: Upstream, city: string, mode: 'generate' | 'stream', sdkPath: string) {
  const w = watch()
  const runs: Array<{ city: string; forecast: string }> = []
  const options = {
    model,
    tools: { get_weather: weatherTool(runs) },
    stopWhen: isStepCount(3),
    prompt: `What is the weather in ${city}?`,
    maxRetries: 0,
  }
  let text: string
  let steps: any[]
  if (mode === 'generate') {
    const result = await generateText(options)
    text = result.text
    steps = result.steps
  } else {
    const errors: unknown[] = []
    const deltas: string[] = []
    const result = streamText({ ...options, onError: ({ error }) => void errors.push(error) })
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') deltas.push(part.text)
      if (part.type === 'error') errors.push(part.error)
    }
    expect(errors).toEqual([])
    text = await result.text
    steps = await result.steps
    // Streamed text arrives in pieces: Claude's preface in step 1, then the answer.
    const preface = upstream === 'claude' ? CLAUDE_PREFACE : ''
    expect(deltas.join('')).toBe(preface + text)
    expect(deltas.length).toBeGreaterThan(upstream === 'claude' ? 3 : 1)
  }

  // The tool ran once, with the arguments the upstream asked for, and the answer is built from its result.
  expect(runs).toHaveLength(1)
  expect(runs[0]!.city).toBe(city)
  expect(text).toBe(answer(city, runs[0]!.forecast))
  expect(steps).toHaveLength(2)
  const callId = w.callId()
  expect(steps[0].finishReason).toBe('tool-calls')
  expect(steps[0].toolCalls).toEqual([expect.objectContaining({ toolCallId: expect.any(String), toolName: 'get_weather', input: { city } })])
  expect(steps[0].toolResults).toEqual([expect.objectContaining({ toolName: 'get_weather', output: runs[0] })])
  expect(steps[1].finishReason).toBe('stop')
  // Usage reached the SDK through the translation (chat prompt_tokens; Anthropic input plus cache).
  expect(steps[1].usage.inputTokens).toBe(upstream === 'chat' ? 11 : 27)
  expect(steps[1].usage.outputTokens).toBe(upstream === 'chat' ? 7 : 9)

  expect(w.gatewayPaths()).toEqual([sdkPath, sdkPath])
  const output = (content: string) => expect(JSON.parse(content)).toEqual(runs[0])
  if (upstream === 'chat') {
    expect(w.claude()).toEqual([])
    expectChatToolRound(w.chat(), callId, city, output, mode === 'stream')
  } else {
    expect(w.chat()).toEqual([])
    expectClaudeToolRound(w.claude(), callId, city, output, mode === 'stream')
  }
  return { w, runs }
}

describe('Vercel AI SDK', () => {
  const openai = () => createOpenAI({ baseURL: gw.baseURL, apiKey: CLIENT_KEY })
  const anthropic = () => createAnthropic({ baseURL: gw.baseURL, apiKey: CLIENT_KEY })

  test('Responses model (openai(id)), generateText with a tool, chat-only provider', async () => {
    await aiSdkToolLoop(openai()('chat/chat-model'), 'chat', 'Lyon', 'generate', '/v1/responses')
  })

  test('Responses model, streamText with a tool, chat-only provider', async () => {
    await aiSdkToolLoop(openai()('chat/chat-model'), 'chat', 'Oslo', 'stream', '/v1/responses')
  })

  test('Responses model, generateText with a tool, Anthropic provider', async () => {
    await aiSdkToolLoop(openai()('claude/claude-test'), 'claude', 'Porto', 'generate', '/v1/responses')
  })

  test('Responses model, streamText with a tool, Anthropic provider', async () => {
    await aiSdkToolLoop(openai()('claude/claude-test'), 'claude', 'Quito', 'stream', '/v1/responses')
  })

  test("Responses model, Anthropic provider: Claude's text before the tool call stays in the conversation", async () => {
    // The AI SDK sends earlier output it got from a Responses server as item_reference (store
    // defaults to true); the upstream must still see what Claude said before its tool call.
    for (const mode of ['generate', 'stream'] as const) {
      const { w } = await aiSdkToolLoop(openai()('claude/claude-test'), 'claude', 'Turin', mode, '/v1/responses')
      const assistant = w.claude()[1]!.body.messages[1]
      expect(assistant.content.map((b: any) => b.type)).toEqual(['text', 'tool_use'])
      expect(assistant.content[0].text).toBe(CLAUDE_PREFACE)
    }
  })

  test('chat model (openai.chat(id)), streamText with a tool, Anthropic provider', async () => {
    await aiSdkToolLoop(openai().chat('claude/claude-test'), 'claude', 'Lima', 'stream', '/v1/chat/completions')
  })

  test('Anthropic provider (createAnthropic), generateText with a tool, chat-only provider', async () => {
    await aiSdkToolLoop(anthropic()('chat/chat-model'), 'chat', 'Kyoto', 'generate', '/v1/messages')
  })

  test('Anthropic provider, streamText with a tool, chat-only provider', async () => {
    await aiSdkToolLoop(anthropic()('chat/chat-model'), 'chat', 'Bergen', 'stream', '/v1/messages')
  })
})

describe('OpenAI Agents SDK', () => {
  /** An agent with one function tool; the tool returns a plain string, as most agent tools do. */
  function weatherAgent(model: string, runs: Array<{ city: string; forecast: string }>) {
    return new Agent({
      name: 'Weather agent',
      instructions: 'Use get_weather to answer.',
      model,
      tools: [
        agentTool({
          name: 'get_weather',
          description: 'The current weather in a city',
          parameters: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            const forecast = `cloudy-${rid()}`
            runs.push({ city, forecast })
            return forecast
          },
        }),
      ],
    })
  }

  const cases: Array<[Upstream, string, string, boolean]> = [
    ['chat', 'chat/chat-model', 'Nairobi', false],
    ['chat', 'chat/chat-model', 'Hanoi', true],
    ['claude', 'claude/claude-test', 'Dakar', false],
    ['claude', 'claude/claude-test', 'Tromso', true],
  ]
  for (const [upstream, model, city, stream] of cases) {
    test(`run(agent) with a function tool, ${stream ? 'streamed' : 'not streamed'}, ${upstream === 'chat' ? 'chat-only' : 'Anthropic'} provider`, async () => {
      const w = watch()
      const runs: Array<{ city: string; forecast: string }> = []
      const agent = weatherAgent(model, runs)
      const question = `What is the weather in ${city}?`
      let finalOutput: unknown
      if (stream) {
        const result = await run(agent, question, { stream: true })
        const deltas: string[] = []
        for await (const event of result) {
          if (event.type === 'raw_model_stream_event' && event.data.type === 'output_text_delta') deltas.push(event.data.delta)
        }
        await result.completed
        expect(result.error).toBeNull()
        finalOutput = result.finalOutput
        expect(deltas.join('')).toBe((upstream === 'claude' ? CLAUDE_PREFACE : '') + finalOutput)
      } else {
        finalOutput = (await run(agent, question)).finalOutput
      }

      expect(runs).toHaveLength(1)
      expect(runs[0]!.city).toBe(city)
      expect(finalOutput).toBe(answer(city, runs[0]!.forecast))
      // Responses is the Agents SDK's default API.
      expect(w.gatewayPaths()).toEqual(['/v1/responses', '/v1/responses'])
      const callId = w.callId()
      const output = (content: string) => expect(content).toBe(runs[0]!.forecast)
      if (upstream === 'chat') expectChatToolRound(w.chat(), callId, city, output, stream)
      else expectClaudeToolRound(w.claude(), callId, city, output, stream)
    })
  }
})

test('nothing in this file tried to reach a host other than 127.0.0.1', () => {
  expect(fetched.length).toBeGreaterThan(0)
  expect(foreign).toEqual([])
})
