import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { ANTHROPIC_USAGE, startMockAnthropic, type MockAnthropic } from '../helpers/mock-anthropic.ts'
import { chunk, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let claude: MockAnthropic
let openai: MockUpstream
let gw: TestGateway
let anthropicClient: Anthropic
let openaiClient: OpenAI

beforeAll(async () => {
  claude = startMockAnthropic()
  openai = startMockUpstream()
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'claude', type: 'anthropic', base_url: claude.url, keys: ['sk-ant-upstream-1'], models: ['claude-test'] },
      { name: 'deepseek', type: 'openai', base_url: openai.baseUrl, keys: ['sk-ds-upstream'], models: ['deepseek-chat'] },
    ],
  })
  anthropicClient = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 })
  openaiClient = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
})
afterAll(async () => {
  await gw.stop()
  claude.stop()
  openai.stop()
})
beforeEach(() => {
  claude.handler = null
  openai.handler = null
})

const weatherTool = { name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }

const lastLog = async (path: string) => {
  let line: any
  await eventually(() => (line = gw.requestLogs().findLast((l) => l.path === path)) !== undefined)
  return line
}

describe('1. Anthropic client -> Anthropic provider: passthrough', () => {
  test('non-streamed: the message comes back as sent, headers forwarded, usage recorded', async () => {
    const msg = await anthropicClient.messages.create(
      { model: 'claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31,other-beta' } },
    )
    expect(msg.content[0]).toEqual({ type: 'text', text: 'Hello from Claude' } as any)
    const seen = claude.requests.at(-1)!
    expect(seen.headers['x-api-key']).toBe('sk-ant-upstream-1')
    // The client's own version and beta flags are forwarded as they are.
    expect(seen.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(seen.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31,other-beta')
    await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-01-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(claude.requests.at(-1)!.headers['anthropic-version']).toBe('2023-01-01')
    const log = await lastLog('/v1/messages')
    // OpenAI convention inside: prompt includes cache reads and writes.
    expect(log.tokens).toEqual({ prompt: 27, completion: 9, cached: 5 })
  })

  test('streamed: events pass through and finalMessage() assembles them, tool use included', async () => {
    const stream = anthropicClient.messages.stream({ model: 'claude/claude-test', max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }], tools: [weatherTool] })
    const final = await stream.finalMessage()
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use'])
    expect((final.content[2] as any).input).toEqual({ city: 'Paris' })
    expect(final.stop_reason).toBe('tool_use')
    expect(final.usage.output_tokens).toBe(9)
    expect(claude.requests.at(-1)!.body.model).toBe('claude-test')
    const log = await lastLog('/v1/messages')
    expect(log.tokens).toEqual({ prompt: 27, completion: 9, cached: 5 })
  })

  test('count_tokens passes through; Claude Code\'s ?beta=true is fine', async () => {
    const res = await fetch(`${gw.url}/v1/messages/count_tokens?beta=true`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(await res.json()).toEqual({ input_tokens: 42 })
    const viaSdk = await anthropicClient.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] })
    expect(viaSdk.input_tokens).toBe(42)
    const beta = await fetch(`${gw.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(beta.status).toBe(200)
  })

  test('an upstream error body reaches the Anthropic client unchanged', async () => {
    const body = { type: 'error', error: { type: 'invalid_request_error', message: 'messages: text content blocks must be non-empty' } }
    claude.handler = () => Response.json(body, { status: 400 })
    let error: any
    try {
      await anthropicClient.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(Anthropic.BadRequestError)
    expect(error.error).toEqual(body)
  })
})

describe('2. OpenAI client -> Anthropic provider: translated', () => {
  test('non-streamed, with tool calls and usage in OpenAI terms', async () => {
    const res = await openaiClient.chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      temperature: 1.7,
    })
    const sent = claude.requests.at(-1)!.body
    expect(sent.system).toEqual([{ type: 'text', text: 'Be brief.' }])
    expect(sent.max_tokens).toBe(4096)
    expect(sent.temperature).toBe(1)
    expect(sent.tools[0]).toMatchObject({ name: 'get_weather', input_schema: { type: 'object' } })
    expect(res.choices[0]!.finish_reason).toBe('tool_calls')
    expect(res.choices[0]!.message.content).toBe('Hello from Claude')
    const call = res.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && [call.id, call.function.name, JSON.parse(call.function.arguments)]).toEqual(['toolu_01', 'get_weather', { city: 'Paris' }])
    expect(res.usage).toMatchObject({ prompt_tokens: 27, completion_tokens: 9, total_tokens: 36, prompt_tokens_details: { cached_tokens: 5 } })
  })

  test('streamed: the SDK accumulates text, reasoning, a tool call at index 0 after two other blocks, and usage', async () => {
    const runner = openaiClient.chat.completions.stream({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      stream_options: { include_usage: true },
    })
    const chunks: any[] = []
    runner.on('chunk', (c) => chunks.push(c))
    const final = await runner.finalChatCompletion()
    expect(final.choices[0]!.message.content).toBe('Hello from Claude')
    expect((final.choices[0]!.message as any).reasoning_content).toBe('Let me think.')
    const call = final.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' })
    expect(chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []).every((t: any) => t.index === 0)).toBe(true)
    expect(final.choices[0]!.finish_reason).toBe('tool_calls')
    expect(final.usage).toMatchObject({ prompt_tokens: 27, completion_tokens: 9 })
  })

  test('an Anthropic mid-stream error becomes an OpenAI error the SDK throws, never a fake stop', async () => {
    claude.handler = () =>
      new Response(
        `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"claude-test","usage":{"input_tokens":1,"output_tokens":0}}}\n\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`,
        { headers: { 'content-type': 'text/event-stream' } },
      )
    let error: any
    try {
      for await (const _ of await openaiClient.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }], stream: true }));
    } catch (err) {
      error = err
    }
    expect(error?.message).toContain('Overloaded')
  })
})

describe('3. Anthropic client -> OpenAI provider: translated (Claude Code on DeepSeek)', () => {
  test('non-streamed with tool use; the reply is an Anthropic message', async () => {
    openai.handler = (_req, body) =>
      Response.json({
        id: 'chatcmpl-9', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Checking.', reasoning_content: 'User wants weather.', tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] } }],
        usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60, prompt_tokens_details: { cached_tokens: 30 } },
      })
    const msg = await anthropicClient.messages.create({
      model: 'deepseek-chat',
      max_tokens: 200,
      system: [{ type: 'text', text: 'You are Claude Code.' }],
      messages: [{ role: 'user', content: 'weather in Oslo?' }],
      tools: [weatherTool],
    })
    const sent = openai.requests.at(-1)!.body
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'You are Claude Code.' })
    expect(sent.tools[0].function.name).toBe('get_weather')
    expect(msg.stop_reason).toBe('tool_use')
    expect(msg.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use'])
    const tool = msg.content[2] as any
    expect(tool.id).toMatch(/^[a-zA-Z0-9_-]+$/)
    expect(tool.input).toEqual({ city: 'Oslo' })
    expect(msg.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 30, output_tokens: 10 })
  })

  test('a tool-use conversation round trip: results in one user message become tool messages with matching ids', async () => {
    await anthropicClient.messages.create({
      model: 'deepseek-chat',
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'weather in two cities?' },
        { role: 'assistant', content: [
          { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'A' } },
          { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: { city: 'B' } },
        ] },
        { role: 'user', content: [
          { type: 'tool_result', tool_use_id: 'toolu_a', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'toolu_b', content: [{ type: 'text', text: 'rain' }] },
          { type: 'text', text: 'and now?' },
        ] },
      ],
      tools: [weatherTool],
    })
    const sent = openai.requests.at(-1)!.body.messages
    expect(sent.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'user'])
    expect(sent[1].tool_calls.map((c: any) => c.id)).toEqual(['toolu_a', 'toolu_b'])
    expect(sent[2]).toEqual({ role: 'tool', tool_call_id: 'toolu_a', content: 'sunny' })
    expect(sent[3]).toEqual({ role: 'tool', tool_call_id: 'toolu_b', content: 'rain' })
  })

  test('streamed: exact event sequence, finalMessage() with thinking, text and parallel tool calls', async () => {
    openai.handler = (_req, body) => {
      expect(body.stream_options).toEqual({ include_usage: true })
      return new Response(
        sse([
          chunk({ role: 'assistant', content: null, reasoning_content: 'Two cities.' }),
          chunk({ content: 'Looking up.' }),
          chunk({ tool_calls: [{ index: 0, id: 'call:1', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"A"}' } }] }),
          chunk({ tool_calls: [{ index: 1, id: 'call:2', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
          chunk({ tool_calls: [{ index: 1, function: { arguments: '{"city":"B"}' } }] }, 'tool_calls'),
          { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model: 'deepseek-chat', choices: [], usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52, prompt_tokens_details: { cached_tokens: 8 } } },
          '[DONE]',
        ]),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    }
    const raw = await (await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'deepseek-chat', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'x' }], tools: [weatherTool] }),
    })).text()
    const events = raw.split('\n\n').filter(Boolean)
    expect(events.every((e) => e.startsWith('event: '))).toBe(true)
    expect(events.map((e) => e.split('\n')[0]!.slice(7))).toEqual([
      'message_start',
      'content_block_start', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_stop',
      'message_delta', 'message_stop',
    ])

    const final = await anthropicClient.messages.stream({ model: 'deepseek-chat', max_tokens: 100, messages: [{ role: 'user', content: 'x' }], tools: [weatherTool] }).finalMessage()
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use'])
    expect((final.content[0] as any).thinking).toBe('Two cities.')
    expect(final.content.slice(2).map((b: any) => [b.id, b.input])).toEqual([['call_1', { city: 'A' }], ['call_2', { city: 'B' }]])
    expect(final.stop_reason).toBe('tool_use')
    expect(final.usage).toMatchObject({ input_tokens: 32, cache_read_input_tokens: 8, output_tokens: 12 })
  })

  test('an OpenAI stream that stops before its finish_reason ends with an error event, not end_turn', async () => {
    openai.handler = () => new Response(sse([chunk({ content: 'partial' })]), { headers: { 'content-type': 'text/event-stream' } })
    let error: any
    try {
      await anthropicClient.messages.stream({ model: 'deepseek-chat', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage()
    } catch (err) {
      error = err
    }
    expect(error).toBeDefined()
    expect(String(error.message)).toContain('ended before')
  })

  test('count_tokens without an Anthropic upstream is the gateway\'s estimate', async () => {
    const res = await anthropicClient.messages.countTokens({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'x'.repeat(400) }] })
    expect(res.input_tokens).toBeGreaterThan(100)
  })
})

describe('errors on /v1/messages are in Anthropic\'s shape', () => {
  test('401, 404, 400, 413 and an upstream failure', async () => {
    const wrong = new Anthropic({ apiKey: 'nope', baseURL: gw.url, maxRetries: 0 })
    const errorOf = async (p: Promise<unknown>) => {
      try {
        await p
      } catch (err) {
        return err as any
      }
      throw new Error('expected a failure')
    }
    const auth = await errorOf(wrong.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }))
    expect(auth).toBeInstanceOf(Anthropic.AuthenticationError)
    expect(auth.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
    const missing = await errorOf(anthropicClient.messages.create({ model: 'no-such', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }))
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError)
    expect(missing.error.error.type).toBe('not_found_error')
    const noMax = await errorOf(anthropicClient.messages.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }] } as any))
    expect(noMax).toBeInstanceOf(Anthropic.BadRequestError)
    expect(noMax.error.error.message).toContain('max_tokens')
    openai.handler = () => Response.json({ error: { message: 'boom' } }, { status: 500 })
    const upstream = await errorOf(anthropicClient.messages.create({ model: 'deepseek-chat', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }))
    expect(upstream.status).toBe(502)
    expect(upstream.error).toMatchObject({ type: 'error', error: { type: 'api_error' } })
    expect(upstream.error.error.message).toContain('boom')
  })

  test('an image of a type Anthropic cannot take is a clear 400 for the OpenAI client', async () => {
    let error: any
    try {
      await openaiClient.chat.completions.create({
        model: 'claude-test',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }],
      })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error.message).toContain('image/bmp')
  })

  test('the model list has Anthropic\'s shape for the Anthropic SDK', async () => {
    const page = await anthropicClient.models.list()
    expect(page.data.map((m) => m.id)).toContain('claude-test')
    expect(page.data[0]!.type).toBe('model')
  })
})

test('usage of translated requests is recorded from the upstream report', async () => {
  await openaiClient.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] })
  const log = await lastLog('/v1/chat/completions')
  expect(log.tokens).toEqual({ prompt: ANTHROPIC_USAGE.input_tokens + 5 + 2, completion: 9, cached: 5 })
})

describe('Claude Code on an OpenAI-compatible provider', () => {
  test('system turns inside messages and per-turn output_config are accepted; the system turn stays in place', async () => {
    const msg = await anthropicClient.messages.create(
      {
        model: 'deepseek/deepseek-chat',
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'system', content: 'Answer in one word.', output_config: { effort: 'low' } },
          { role: 'user', content: 'again' },
        ] as any,
      },
      { headers: { 'anthropic-beta': 'per-turn-control-2026-07-01' } },
    )
    expect(msg.type).toBe('message')
    const roles = openai.requests.at(-1)!.body.messages.map((m: any) => m.role)
    expect(roles).toEqual(['user', 'system', 'user'])
  })
})
