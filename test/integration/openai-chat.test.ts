import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { basicConfig, CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { chunk, MOCK_USAGE, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let gw: TestGateway
let client: OpenAI

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway(basicConfig(mock.baseUrl))
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})
beforeEach(() => {
  mock.handler = null
  mock.requests.length = 0
})

const lastLog = async (path = '/v1/chat/completions') => {
  let line: any
  await eventually(() => (line = gw.requestLogs().findLast((l) => l.path === path)) !== undefined)
  return line
}

describe('chat completions through the official SDK', () => {
  test('a non-streamed completion comes back as the upstream sent it, with usage logged', async () => {
    const before = gw.requestLogs().length
    const res = await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    expect(res.choices[0]!.message.content).toBe('Hello world')
    expect(res.usage?.prompt_tokens).toBe(11)
    await eventually(() => gw.requestLogs().length > before)
    const log = gw.requestLogs().at(-1)
    expect(log).toMatchObject({ status: 200, provider: 'mock', client: 'tester', model: 'mock-model', stream: false })
    expect(log.tokens).toEqual({ prompt: 11, completion: 7, cached: 3 })
  })

  test('provider/model addresses a provider and reaches it as the bare upstream model', async () => {
    await client.chat.completions.create({ model: 'mock/mock-model', messages: [{ role: 'user', content: 'hi' }] })
    expect(mock.requests.at(-1)!.body.model).toBe('mock-model')
  })

  test('unknown request fields reach the upstream untouched', async () => {
    await client.chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'hi' }],
      // @ts-expect-error a parameter the SDK does not know yet
      brand_new_param: { nested: [1, 2] },
      temperature: 0.3,
    })
    const sent = mock.requests.at(-1)!.body
    expect(sent.brand_new_param).toEqual({ nested: [1, 2] })
    expect(sent.temperature).toBe(0.3)
  })

  test('a stream arrives chunk by chunk; the usage chunk the gateway asked for is removed again', async () => {
    const stream = await client.chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })
    const parts: string[] = []
    let sawUsage = false
    for await (const c of stream) {
      if (c.usage) sawUsage = true
      parts.push(c.choices[0]?.delta?.content ?? '')
    }
    expect(parts.join('')).toBe('Hello world')
    expect(sawUsage).toBe(false)
    expect(mock.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true })
    const log = await lastLog()
    expect(log).toMatchObject({ stream: true, status: 200, outcome: 'ok' })
    expect(log.tokens).toEqual({ prompt: 11, completion: 7, cached: 3 })
  })

  test('a client that asks for usage gets the usage chunk, and the request is forwarded as sent', async () => {
    const stream = await client.chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    let usage: any = null
    for await (const c of stream) if (c.usage) usage = c.usage
    expect(usage).toEqual(MOCK_USAGE)
    expect(mock.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true })
  })

  test('streamed tool-call arguments arrive intact, including a fragment sharing the finish chunk', async () => {
    mock.handler = () =>
      new Response(
        sse([
          chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
          chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, 'tool_calls'),
          '[DONE]',
        ], 5),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    const runner = client.chat.completions.stream({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
      ],
    })
    const final = await runner.finalChatCompletion()
    const calls = final.choices[0]!.message.tool_calls!
    expect(final.choices[0]!.finish_reason).toBe('tool_calls')
    expect(calls.map((c) => c.type === 'function' && [c.id, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['call_a', 'get_weather', { city: 'Paris' }],
      ['call_b', 'get_time', { tz: 'UTC' }],
    ])
  })

  test('non-streamed tool calls pass through', async () => {
    mock.handler = (_req, body) =>
      Response.json({
        id: 'c', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, finish_reason: 'tool_calls', logprobs: null, message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] } }],
      })
    const res = await client.chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    })
    const call = res.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && call.function.arguments).toBe('{"a":1}')
  })

  test('the client request id is echoed; without one a fresh id is generated', async () => {
    const echoed = await client.chat.completions
      .create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': 'my-trace-42' } })
      .withResponse()
    expect(echoed.response.headers.get('x-request-id')).toBe('my-trace-42')
    const fresh = await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
    expect(fresh.response.headers.get('x-request-id')).toMatch(/^req_[A-Za-z0-9]{12}[a-z0-9]{8,}$/)
  })
})

describe('models and embeddings', () => {
  test('the model list shows each model once (chat apps show no doubles); the provider/model form still resolves', async () => {
    const ids: string[] = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toEqual(expect.arrayContaining(['mock-model', 'text-embedding-3-small']))
    expect(ids).not.toContain('mock/mock-model')
    expect(new Set(ids).size).toBe(ids.length)
    const one = await client.models.retrieve('mock/mock-model')
    expect(one).toMatchObject({ id: 'mock/mock-model', owned_by: 'mock' })
  })

  test('embeddings come back decoded by the SDK (base64 requested by default)', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] })
    expect(res.data.map((d) => d.embedding)).toEqual([[0.25, -0.5, 1], [0.25, -0.5, 1]])
    expect(mock.requests.at(-1)!.body.encoding_format).toBe('base64')
    const log = await lastLog('/v1/embeddings')
    expect(log.tokens.prompt).toBe(4)
  })

  test('an upstream that ignores encoding_format gets its floats re-encoded as base64', async () => {
    const raw = await fetch(`${gw.baseURL}/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'a', encoding_format: 'base64', honour: false }),
    })
    const json: any = await raw.json()
    expect(typeof json.data[0].embedding).toBe('string')
    const floats = new Float32Array(Buffer.from(json.data[0].embedding, 'base64').buffer.slice(0))
    expect([...floats]).toEqual([0.25, -0.5, 1])
    const viaSdk = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'a', encoding_format: 'float' })
    expect(viaSdk.data[0]!.embedding).toEqual([0.25, -0.5, 1])
  })
})

describe('browsers', () => {
  test('CORS: preflight on the API routes, readable headers on answers and errors; none on admin routes', async () => {
    const preflight = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://chat.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-stainless-os')
    const ok = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { origin: 'https://chat.example', authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-model', messages: [] }),
    })
    expect(ok.headers.get('access-control-allow-origin')).toBe('*')
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id')
    const denied = await fetch(`${gw.baseURL}/models`, { headers: { origin: 'https://chat.example' } })
    expect(denied.status).toBe(401)
    expect(denied.headers.get('access-control-allow-origin')).toBe('*')
    const adminPreflight = await fetch(`${gw.url}/admin/api/keys`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })
    expect(adminPreflight.headers.get('access-control-allow-origin')).toBeNull()
  })
})
