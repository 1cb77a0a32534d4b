import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { defaultChat, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'admin-token-for-hostile-client-tests'
const ONE_RPM = 'sk-test-one-rpm-0123456789'
const TWO_RPM = 'sk-test-two-rpm-0123456789'
const SINGLE = 'sk-test-single-slot-0123456789'
const BUDGET = 'sk-test-budget-0123456789'
const BODY_TIMEOUT_MS = 500

let mock: MockUpstream
let gw: TestGateway
let port: number

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway({
    admin: { token: ADMIN },
    server: { body_timeout_ms: BODY_TIMEOUT_MS, trusted_proxies: ['127.0.0.1'] },
    // $10 per million prompt tokens, $30 per million completion tokens.
    prices: { 'mock/mock-model': { prompt: 10, completion: 30 } },
    auth: {
      keys: [
        { name: 'tester', key: CLIENT_KEY },
        { name: 'one-rpm', key: ONE_RPM, rpm: 1 },
        { name: 'two-rpm', key: TWO_RPM, rpm: 2 },
        { name: 'single', key: SINGLE, max_concurrent: 1 },
        { name: 'budget', key: BUDGET, quota: { period: 'day', budget_usd: 0.001 } },
      ],
    },
    providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['mock-model'] }],
  })
  port = Number(new URL(gw.url).port)
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

const chat = (key: string, body: object) =>
  fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], ...body }),
  })

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${gw.url}/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } })

interface RawReply {
  status: number
  head: string
  body: string
  ms: number
}

/**
 * One HTTP/1.1 exchange over a plain socket (fetch cannot set Host or leave a body unfinished):
 * writes `head` and then `body`, and resolves with the reply once the server closes or answers.
 */
function raw(head: string, body = '', timeoutMs = 5000): Promise<RawReply> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head + body))
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(text.slice(0, 200))}`))
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      const [headText = '', ...rest] = text.split('\r\n\r\n')
      resolve({ status: Number(headText.split(' ')[1]), head: headText, body: rest.join('\r\n\r\n'), ms: performance.now() - started })
      socket.destroy()
    }
    socket.on('data', (d) => {
      text += d
      // Content-Length replies are complete once the declared bytes are in.
      const m = /content-length: (\d+)/i.exec(text)
      const split = text.indexOf('\r\n\r\n')
      if (m && split >= 0 && Buffer.byteLength(text.slice(split + 4)) >= Number(m[1])) done()
    })
    socket.on('close', done)
    socket.on('error', () => {})
  })
}

const post = (path: string, headers: Record<string, string | number>, host = '127.0.0.1') =>
  `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`

describe('bodies: limits and auth come before any byte is read', () => {
  test('the admin API answers a caller without the token at once, without waiting for the body it announced', async () => {
    // The body never comes: an answer can only be given before reading it.
    const reply = await raw(post('/admin/api/keys', { 'content-type': 'application/json', 'content-length': 5000, connection: 'close' }), '{"na', 3000)
    expect(reply.status).toBe(401)
    expect(reply.ms).toBeLessThan(BODY_TIMEOUT_MS)
    expect(JSON.parse(reply.body).error.code).toBe('invalid_api_key')
    const api = await raw(post('/v1/chat/completions', { 'content-type': 'application/json', 'content-length': 5000, connection: 'close' }), '{"mo', 3000)
    expect(api.status).toBe(401)
    expect(api.ms).toBeLessThan(BODY_TIMEOUT_MS)
  })

  test('admin bodies over 1 MiB and login bodies over 4 KiB are 413s in the API shape, declared or chunked', async () => {
    const big = JSON.stringify({ name: 'x', metadata: { pad: 'a'.repeat(1024 * 1024) } })
    const declared = await admin('/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
    expect(declared.status).toBe(413)
    expect(((await declared.json()) as any).error).toMatchObject({ code: 'request_too_large', type: 'invalid_request_error' })

    const chunked = (size: number) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let sent = 0; sent < size; sent += 64 * 1024) c.enqueue(new Uint8Array(64 * 1024).fill(32))
          c.close()
        },
      })
    const streamed = await admin('/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunked(2 * 1024 * 1024), duplex: 'half' } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(((await streamed.json()) as any).error.code).toBe('request_too_large')

    // The login form used to accept any size and answer 400.
    const login = await fetch(`${gw.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'a'.repeat(8 * 1024) }) })
    expect(login.status).toBe(413)
    const loginStreamed = await fetch(`${gw.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunked(64 * 1024), duplex: 'half' } as RequestInit)
    expect(loginStreamed.status).toBe(413)
    // A normal admin body still works.
    expect((await admin('/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'small' }) })).status).toBe(201)
  })

  test('a body that stops arriving is a 408 after body_timeout_ms, and holds no concurrency slot meanwhile', async () => {
    const stalled = raw(
      post('/v1/chat/completions', { authorization: `Bearer ${SINGLE}`, 'content-type': 'application/json', 'content-length': 1000 }),
      '{"model":"mock-model","messages":[',
      5000,
    )
    await Bun.sleep(100)
    // The key's one slot is free while the other body is still coming.
    const normal = await chat(SINGLE, {})
    expect(normal.status).toBe(200)
    const reply = await stalled
    expect(reply.status).toBe(408)
    expect(reply.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50)
    expect(reply.ms).toBeLessThan(BODY_TIMEOUT_MS + 2000)
    expect(JSON.parse(reply.body).error.message).toContain('did not arrive')
    // And the stalled one gave nothing back that it never took: the next request still gets the slot.
    expect((await chat(SINGLE, {})).status).toBe(200)
  })

  test('admin bodies have the same deadline', async () => {
    const reply = await raw(post('/admin/api/keys', { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'content-length': 1000 }), '{"name":', 5000)
    expect(reply.status).toBe(408)
  })
})

describe('client-chosen strings are bounded', () => {
  test('a 10 MB model name is a short 400, and refused requests count against the key\'s rpm', async () => {
    const model = 'm'.repeat(10 * 1024 * 1024)
    const statuses: number[] = []
    const sizes: number[] = []
    for (let i = 0; i < 5; i++) {
      const res = await chat(ONE_RPM, { model })
      statuses.push(res.status)
      sizes.push((await res.text()).length)
    }
    expect(statuses).toEqual([400, 429, 429, 429, 429])
    expect(Math.max(...sizes)).toBeLessThan(2000)
    await eventually(() => gw.requestLogs().filter((l) => l.client === 'one-rpm').length === 5)
    // Nothing of the name reaches the log beyond a short prefix.
    const lines = gw.logs.filter((l) => l.includes('"one-rpm"'))
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(4000)
  })

  test('unknown models are refused with 404 until the rpm is spent, then 429', async () => {
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await chat(TWO_RPM, { model: 'no-such-model' })).status)
    expect(statuses).toEqual([404, 404, 429])
  })

  test('a long unknown path is echoed and logged only in part', async () => {
    const path = '/v1/' + 'p'.repeat(100_000)
    const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })
    expect(res.status).toBe(404)
    expect((await res.text()).length).toBeLessThan(2000)
    await eventually(() => gw.requestLogs().some((l) => l.status === 404 && l.path.startsWith('/v1/ppp')))
    const line = gw.requestLogs().find((l) => l.status === 404 && l.path.startsWith('/v1/ppp'))
    expect(line.path.length).toBeLessThan(1100)
  })
})

describe('deeply nested JSON', () => {
  const deep = (n: number) => '{"model":"mock-model","messages":[{"role":"user","content":' + '['.repeat(n) + ']'.repeat(n) + '}]}'

  test('100,000 levels is a quick 400, not a 500 after seconds of blocked event loop', async () => {
    const started = performance.now()
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: deep(100_000),
    })
    const ms = performance.now() - started
    expect(res.status).toBe(400)
    expect(((await res.json()) as any).error.message).toContain('deeper than 128')
    expect(ms).toBeLessThan(500)
    // The admin API refuses it the same way.
    const adminRes = await admin('/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"d","metadata":' + '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_001) })
    expect(adminRes.status).toBe(400)
  })

  test('100 levels still passes', async () => {
    const res = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: '{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"metadata":' + '{"a":'.repeat(100) + '1' + '}'.repeat(100) + '}',
    })
    expect(res.status).toBe(200)
  })
})

describe('the Host header does not move the path', () => {
  const chatBody = JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
  const chatHead = (path: string, host: string) =>
    post(path, { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(chatBody), connection: 'close' }, host)

  test('with Host: ab the real path is served and logged, a shifted one is 404', async () => {
    const real = await raw(chatHead('/v1/chat/completions', 'ab'), chatBody)
    expect(real.status).toBe(200)
    await eventually(() => gw.requestLogs().some((l) => l.path === '/v1/chat/completions' && l.status === 200))
    const shifted = await raw(chatHead('/zz/v1/chat/completions', 'ab'), chatBody)
    expect(shifted.status).toBe(404)
    // A gateway reached by a short service name works.
    expect((await raw(chatHead('/v1/chat/completions', 'gw'), chatBody)).status).toBe(200)
  })

  test('/x/metrics is not /metrics', async () => {
    const metrics = await raw(`GET /x/metrics HTTP/1.1\r\nHost: ab\r\nauthorization: Bearer ${ADMIN}\r\nconnection: close\r\n\r\n`)
    expect(metrics.status).toBe(404)
    const real = await raw(`GET /metrics HTTP/1.1\r\nHost: ab\r\nauthorization: Bearer ${ADMIN}\r\nconnection: close\r\n\r\n`)
    expect(real.status).toBe(200)
    expect(real.body).toContain('sluice_requests_total')
  })
})

describe('login throttling', () => {
  test('rotating addresses behind a trusted proxy does not buy more guesses', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 70; i++) {
      // A new IPv4 address every time, and a new IPv6 address in one /64 now and then.
      const from = i % 7 === 0 ? `2001:db8:7:7::${i.toString(16)}` : `198.51.${i}.${i}`
      const res = await fetch(`${gw.url}/dashboard/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        body: JSON.stringify({ token: `guess-${i}` }),
      })
      statuses.push(res.status)
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true)
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10)
    expect(statuses.at(-1)).toBe(429)
  })
})

describe('parameters are validated', () => {
  test('broken percent-encoding in a model id is a 404 in the OpenAI shape', async () => {
    for (const id of ['%', '%E0%A4%A']) {
      const res = await fetch(`${gw.baseURL}/models/${id}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })
      expect(res.status).toBe(404)
      expect(((await res.json()) as any).error.code).toBe('model_not_found')
    }
  })

  test('the request log refuses what is not a number, and never pages past 500', async () => {
    for (const q of ['before=abc', 'limit=abc', 'limit=1.5', 'limit=0', 'status=abc', 'before=-1', `key=${'k'.repeat(300)}`]) {
      const res = await admin(`/requests?${q}`)
      expect({ q, status: res.status }).toEqual({ q, status: 400 })
      expect(((await res.json()) as any).error.type).toBe('invalid_request_error')
    }
    const big = await admin('/requests?limit=100000')
    expect(big.status).toBe(200)
    expect(((await big.json()) as any).data.length).toBeLessThanOrEqual(500)
    expect((await admin(`/usage?model=${'m'.repeat(300)}`)).status).toBe(400)
    expect((await admin('/keys/%')).status).toBe(404)
    expect((await admin('/keys/%E0%A4%A')).status).toBe(404)
    expect((await admin('/keys/%', { method: 'DELETE' })).status).toBe(404)
    expect((await admin('/providers/%/keys/%E0%A4%A/enable', { method: 'POST' })).status).toBe(404)
  })
})

describe('budgets', () => {
  test('100 parallel requests against a $0.001 budget spend at most the budget and one request\'s estimate', async () => {
    // Slow answers keep them all in flight together.
    mock.handler = async (_req, body) => {
      await Bun.sleep(200)
      return defaultChat(body)
    }
    try {
      const body = { max_tokens: 10 }
      const replies = await Promise.all(Array.from({ length: 100 }, () => chat(BUDGET, body)))
      const ok = replies.filter((r) => r.status === 200).length
      expect(ok).toBeGreaterThan(0)
      expect(replies.every((r) => r.status === 200 || r.status === 429)).toBe(true)
      await Promise.all(replies.map((r) => r.text()))
      // Each answer: 8 fresh + 3 cached prompt tokens at $10/M, 7 completion tokens at $30/M.
      const costEach = (11 * 10 + 7 * 30) / 1e6
      const bytes = JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], ...body }).length
      const estimate = (Math.ceil(bytes / 4) * 10 + 10 * 30) / 1e6
      expect(ok * costEach).toBeLessThanOrEqual(0.001 + estimate)
      const keys: any = await (await admin('/keys')).json()
      const spent = keys.data.find((k: any) => k.name === 'budget').usage.cost_usd
      expect(spent).toBeCloseTo(ok * costEach, 9)
      expect(spent).toBeLessThanOrEqual(0.001 + estimate)
    } finally {
      mock.handler = null
    }
  })
})
