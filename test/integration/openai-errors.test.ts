import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { chunk, defaultChat, endlessStream, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const UPSTREAM_KEY = 'sk-upstream-secret-errors-77'
let mock: MockUpstream
let gw: TestGateway
let client: OpenAI

beforeAll(async () => {
  mock = startMockUpstream()
  // One attempt and no circuit breaking: each test sees what a single upstream failure turns into.
  // Retries, pools and breaking have their own tests.
  gw = await startGateway({
    server: { max_body_bytes: 4096 },
    retry: { max_attempts: 1 },
    circuit_breaker: { failure_threshold: 1000 },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: [UPSTREAM_KEY], models: ['mock-model'] },
      {
        name: 'slow',
        type: 'openai',
        base_url: mock.baseUrl,
        keys: [UPSTREAM_KEY],
        models: ['mock-model'],
        timeouts: { first_byte_ms: 300, stream_idle_ms: 300, total_ms: 5000 },
      },
      { name: 'short', type: 'openai', base_url: mock.baseUrl, keys: [UPSTREAM_KEY], models: ['mock-model'], timeouts: { total_ms: 400 } },
      { name: 'down', type: 'openai', base_url: 'http://127.0.0.1:1/v1', keys: [UPSTREAM_KEY], models: ['mock-model'] },
      { name: 'authfail', type: 'openai', base_url: mock.baseUrl, keys: [UPSTREAM_KEY], models: ['mock-model'] },
      { name: 'limited', type: 'openai', base_url: mock.baseUrl, keys: [UPSTREAM_KEY], models: ['mock-model'] },
    ],
  })
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})
beforeEach(() => {
  mock.handler = null
})

const ask = (model: string, extra: Record<string, unknown> = {}) =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], ...extra } as any)

async function caught(promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  })

function expectOpenAIShape(json: any) {
  expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type'])
  expect(typeof json.error.message).toBe('string')
}

describe('the client gets every error in OpenAI shape with the right status', () => {
  test('400 for a body that is not JSON', async () => {
    const res = await post('/v1/chat/completions', '{"model": "mock-model", "messages": [')
    expect(res.status).toBe(400)
    const json: any = await res.json()
    expectOpenAIShape(json)
    expect(json.error.type).toBe('invalid_request_error')
    expect(json.error.message).toContain('parse the JSON')
  })

  test('400 naming the missing field', async () => {
    const err = await caught(client.chat.completions.create({ model: 'mock-model' } as any))
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect(err.param).toBe('messages')
    const noModel = await caught(client.chat.completions.create({ messages: [] } as any))
    expect(noModel.param).toBe('model')
    const badType = await post('/v1/embeddings', JSON.stringify({ model: 'mock-model', input: 5 }))
    expect(badType.status).toBe(400)
    expect(((await badType.json()) as any).error.param).toBe('input')
  })

  test('401 with no key and with a wrong key, on every API route', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: gw.baseURL, maxRetries: 0 })
    const err = await caught(wrong.chat.completions.create({ model: 'mock-model', messages: [] }))
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(err.code).toBe('invalid_api_key')
    for (const [method, path] of [['POST', '/v1/chat/completions'], ['POST', '/v1/embeddings'], ['GET', '/v1/models']]) {
      const res = await fetch(`${gw.url}${path}`, { method, body: method === 'POST' ? '{}' : undefined })
      expect(res.status).toBe(401)
      expectOpenAIShape(await res.json())
    }
  })

  test('each way of presenting the key works', async () => {
    for (const headers of [{ authorization: `Bearer ${CLIENT_KEY}` }, { 'x-api-key': CLIENT_KEY }, { 'api-key': CLIENT_KEY }] as Record<string, string>[]) {
      const res = await fetch(`${gw.url}/v1/models`, { headers })
      expect(res.status).toBe(200)
    }
  })

  test('404 for an unknown model, saying where the list is', async () => {
    const err = await caught(ask('no-such-model'))
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.code).toBe('model_not_found')
    expect(err.message).toContain('GET /v1/models')
    const notListed = await caught(ask('mock/not-in-the-explicit-list'))
    expect(notListed.status).toBe(404)
  })

  test('404 in OpenAI shape for an unknown URL', async () => {
    const res = await fetch(`${gw.url}/v1/nothing-here`)
    expect(res.status).toBe(404)
    expectOpenAIShape(await res.json())
  })

  test('413 for a body over the limit, declared or streamed in chunks', async () => {
    const big = JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'x'.repeat(5000) }] })
    const declared = await post('/v1/chat/completions', big)
    expect(declared.status).toBe(413)
    expectOpenAIShape(await declared.json())
    const chunked = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1000)))
          c.close()
        },
      }),
    })
    expect(chunked.status).toBe(413)
    expect(((await chunked.json()) as any).error.code).toBe('request_too_large')
  })
})

describe('upstream failures', () => {
  test('an upstream 500 becomes a 502 carrying the upstream message', async () => {
    mock.handler = () => Response.json({ error: { message: 'the model crashed', type: 'server_error' } }, { status: 500 })
    const err = await caught(ask('mock-model'))
    expect(err.status).toBe(502)
    expect(err.message).toContain('the model crashed')
  })

  test('an upstream 503 stays a 503, a 504 a 504', async () => {
    mock.handler = () => new Response('overloaded, try later', { status: 503 })
    expect((await caught(ask('mock-model'))).status).toBe(503)
    mock.handler = () => new Response('gateway timeout', { status: 504 })
    expect((await caught(ask('mock-model'))).status).toBe(504)
  })

  test("an upstream 401 is the gateway's problem: the key is disabled, 503 with no retry, the key never echoed", async () => {
    mock.handler = (req) =>
      Response.json({ error: { message: `Incorrect API key provided: ${req.headers.get('authorization')}` } }, { status: 401 })
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'authfail/mock-model', messages: [] }))
    expect(res.status).toBe(503)
    expect(res.headers.get('x-should-retry')).toBe('false')
    const text = await res.text()
    expect(text).not.toContain(UPSTREAM_KEY)
    expect(text).toContain('disabled')
  })

  test("an upstream 400 is the client's own mistake: passed on unchanged", async () => {
    const body = { error: { message: "Invalid value for 'temperature'", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } }
    mock.handler = () => Response.json(body, { status: 400 })
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'mock-model', messages: [], temperature: 9 }))
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual(body)
  })

  test('an upstream 429 on the only key is a 429 with its retry-after', async () => {
    mock.handler = () => Response.json({ error: { message: 'slow down' } }, { status: 429, headers: { 'retry-after': '7' } })
    const res = await post('/v1/chat/completions', JSON.stringify({ model: 'limited/mock-model', messages: [] }))
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('7')
    const ms = Number(res.headers.get('retry-after-ms'))
    expect(ms).toBeGreaterThan(6500)
    expect(ms).toBeLessThanOrEqual(7000)
  })

  test('an unreachable upstream is a 502', async () => {
    const err = await caught(ask('down/mock-model'))
    expect(err.status).toBe(502)
    expect(err.message).toContain('could not be reached')
  })

  test('no first byte within first_byte_ms is a 504', async () => {
    mock.handler = async (_req, body) => {
      await Bun.sleep(1500)
      return defaultChat(body)
    }
    const started = Date.now()
    const err = await caught(ask('slow/mock-model'))
    expect(err.status).toBe(504)
    expect(err.message).toContain('no response within 300 ms')
    expect(Date.now() - started).toBeLessThan(1400)
  })

  test('a stream that goes silent ends with an error event instead of hanging', async () => {
    mock.handler = () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk({ content: 'partial' }))}\n\n`))
            // ...and then nothing, for ever.
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    const stream = await ask('slow/mock-model', { stream: true })
    const seen: string[] = []
    const err = await caught(
      (async () => {
        for await (const c of stream as any) seen.push(c.choices[0]?.delta?.content ?? '')
      })(),
    )
    expect(seen).toEqual(['partial'])
    expect(err.message).toContain('silent for 300 ms')
    await eventually(() => gw.requestLogs().some((l) => l.error?.code === 'upstream_timeout' && l.stream === true))
  })

  test('total_ms bounds a stream that keeps talking', async () => {
    mock.handler = () => new Response(endlessStream(mock, 20), { headers: { 'content-type': 'text/event-stream' } })
    const stream = await ask('short/mock-model', { stream: true })
    const err = await caught(
      (async () => {
        for await (const _ of stream as any);
      })(),
    )
    expect(err.message).toContain('longer than 400 ms')
  })

  test('a client that disconnects mid-stream aborts the upstream request at once', async () => {
    mock.handler = () => new Response(endlessStream(mock, 10), { headers: { 'content-type': 'text/event-stream' } })
    const before = mock.cancelledStreams
    const controller = new AbortController()
    const stream = await client.chat.completions.create(
      { model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], stream: true },
      { signal: controller.signal },
    )
    let n = 0
    try {
      for await (const _ of stream) if (++n === 3) controller.abort()
    } catch {
      // the SDK may end the iteration quietly or throw an abort error; either is fine
    }
    expect(n).toBe(3)
    await eventually(() => mock.cancelledStreams > before, 2000)
    await eventually(() => gw.requestLogs().some((l) => l.outcome === 'client_closed'))
  })
})
