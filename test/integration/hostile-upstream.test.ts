import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { chunk, defaultChat, sse } from '../helpers/mock-upstream.ts'
import { gzipBombResponse } from '../helpers/gzip-bomb.ts'

// An upstream is a remote party: it must not be able to send the gateway (and the prompt, the
// key and the configured headers) elsewhere, make it hold unbounded bytes, or charge a client key
// for tokens nobody used. Each provider below is one behaviour of one upstream server, chosen by
// the first segment of its base URL.

const enc = new TextEncoder()
const SECRET_HEADER = 'x-tenant-secret'
const LIMITS = { max_body_bytes: 1024 * 1024, max_event_bytes: 64 * 1024, max_error_bytes: 4096, max_reported_tokens: 10_000_000 }

type Behaviour = (req: Request, body: any) => Response | Promise<Response>

interface Trap {
  hits: Array<{ path: string; headers: Record<string, string> }>
  url: string
  server: ReturnType<typeof Bun.serve>
}

let trap: Trap
let upstream: ReturnType<typeof Bun.serve>
let gw: TestGateway
const behaviours = new Map<string, Behaviour>()
/** Bytes each behaviour produced (streams made on demand count what was pulled from them). */
const produced = new Map<string, number>()

/** A stream that makes `piece` on demand, up to `total` bytes, counting what was taken. */
function onDemand(name: string, piece: Uint8Array, total: number, head?: Uint8Array): ReadableStream<Uint8Array> {
  let made = 0
  produced.set(name, 0)
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        const next = made === 0 && head ? head : piece
        if (made >= total) return c.close()
        made += next.byteLength
        produced.set(name, made)
        c.enqueue(next)
      },
    },
    { highWaterMark: 0 },
  )
}

const redirect = (status: number) => () => new Response('moved', { status, headers: { location: `${trap.url}/v1/chat/completions` } })

function setBehaviours(): void {
  behaviours.clear()
  behaviours.set('ok', (_req, body) => defaultChat(body))
  behaviours.set('redirect', redirect(307))
  behaviours.set('moved', redirect(301))
  behaviours.set('html', () => new Response('<html><body>Service temporarily unavailable</body></html>', { headers: { 'content-type': 'text/html' } }))
  behaviours.set('bigerror', () => new Response(onDemand('bigerror', enc.encode('x'.repeat(64 * 1024)), 200 * 1024 * 1024), { status: 500 }))
  behaviours.set('bigjson', () =>
    new Response(onDemand('bigjson', enc.encode(' '.repeat(64 * 1024)), 200 * 1024 * 1024, enc.encode('{"id":"x","pad":"')), {
      headers: { 'content-type': 'application/json' },
    }),
  )
  behaviours.set('bomb', gzipBombResponse)
  const firstEvent = enc.encode(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'hi' }))}\n\n`)
  behaviours.set('longevent', () =>
    new Response(onDemand('longevent', enc.encode('x'.repeat(16 * 1024)), 50 * 1024 * 1024, enc.encode(`${new TextDecoder().decode(firstEvent)}data: {"a":"`)), {
      headers: { 'content-type': 'text/event-stream' },
    }),
  )
  behaviours.set('longfirst', () =>
    new Response(onDemand('longfirst', enc.encode('x'.repeat(16 * 1024)), 50 * 1024 * 1024, enc.encode('data: {"a":"')), {
      headers: { 'content-type': 'text/event-stream' },
    }),
  )
  const flood = enc.encode(`data: ${JSON.stringify(chunk({ content: 'y'.repeat(60 * 1024) }))}\n\n`)
  behaviours.set('flood', () => new Response(onDemand('flood', flood, 400 * 1024 * 1024), { headers: { 'content-type': 'text/event-stream' } }))
  const absurd = { prompt_tokens: 1e15, completion_tokens: 1e15, total_tokens: 2e15, prompt_tokens_details: { cached_tokens: -5 } }
  behaviours.set('huge', (_req, body) => {
    if (body.stream) {
      return new Response(sse([chunk({ content: 'hi' }), chunk({}, 'stop'), { ...chunk({}), choices: [], usage: absurd }, '[DONE]']), {
        headers: { 'content-type': 'text/event-stream' },
      })
    }
    return Response.json({
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: absurd,
    })
  })
}

beforeAll(async () => {
  const hits: Trap['hits'] = []
  const trapServer = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      hits.push({ path: new URL(req.url).pathname, headers: Object.fromEntries(req.headers) })
      return Response.json({ object: 'list', data: [{ id: 'trap-model' }], id: 'trap', choices: [{ index: 0, message: { role: 'assistant', content: 'from the trap' } }] })
    },
  })
  trap = { hits, url: `http://127.0.0.1:${trapServer.port}`, server: trapServer }
  upstream = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const name = new URL(req.url).pathname.split('/')[1]!
      const text = req.method === 'POST' ? await req.text() : ''
      const behaviour = behaviours.get(name)
      if (!behaviour) return new Response('no such behaviour', { status: 404 })
      return behaviour(req, text ? JSON.parse(text) : {})
    },
  })
  const base = (name: string) => `http://127.0.0.1:${upstream.port}/${name}/v1`
  const provider = (name: string, extra: object = {}) => ({
    name,
    type: 'openai',
    base_url: base(name),
    keys: [`sk-upstream-${name}-secret-0123`],
    headers: { [SECRET_HEADER]: 'tenant-42' },
    models: ['m'],
    ...extra,
  })
  setBehaviours()
  gw = await startGateway({
    retry: { max_attempts: 2, initial_delay_ms: 1, max_delay_ms: 5 },
    circuit_breaker: { failure_threshold: 1000 },
    upstream: LIMITS,
    prices: { 'huge/m': { prompt: 1, completion: 1 } },
    auth: {
      keys: [
        { name: 'tester', key: CLIENT_KEY },
        // $1 per million tokens: an honest request costs cents; 1e15 tokens would cost $2e9.
        { name: 'metered', key: 'sk-test-metered-key-0123456789', quota: { period: 'day', tokens: 50_000_000, budget_usd: 30 } },
      ],
    },
    providers: [
      provider('ok'),
      provider('redirect'),
      provider('moved'),
      provider('html'),
      provider('bigerror'),
      provider('bigjson'),
      provider('bomb'),
      provider('longevent'),
      provider('longfirst'),
      provider('flood', { timeouts: { stream_idle_ms: 600 } }),
      provider('huge'),
      // No `models:`: the list is discovered with GET /models, which redirects.
      { name: 'discover', type: 'openai', base_url: base('redirect'), keys: ['sk-upstream-discover-secret-0123'], headers: { [SECRET_HEADER]: 'tenant-42' } },
    ],
    aliases: [
      { name: 'redirect-then-ok', targets: ['redirect/m', 'ok/m'], strategy: 'fallback' },
      { name: 'html-then-ok', targets: ['html/m', 'ok/m'], strategy: 'fallback' },
      { name: 'longfirst-then-ok', targets: ['longfirst/m', 'ok/m'], strategy: 'fallback' },
    ],
  })
})

afterAll(async () => {
  await gw.stop()
  upstream.stop(true)
  trap.server.stop(true)
})

// The trap's hits are never reset: nothing in this file may ever reach it.
let mark = 0
beforeEach(() => {
  mark = gw.logs.length
})

const chat = (model: string, extra: object = {}, key = CLIENT_KEY) =>
  fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'the prompt' }], ...extra }),
  })

/** Log lines of the current test with this message. */
const logsWith = (msg: string, from = mark) => gw.logs.slice(from).map((l) => JSON.parse(l)).filter((l) => l.msg === msg)
const requestLogs = () => logsWith('request')

describe('redirects are never followed', () => {
  test('a 307 is a 502 in the OpenAI shape; the other address gets neither the prompt nor the key', async () => {
    for (const stream of [false, true]) {
      const res = await chat('redirect/m', { stream })
      expect(res.status).toBe(502)
      const body: any = await res.json()
      expect(body.error.message).toContain('redirect (HTTP 307)')
      expect(body.error.message).not.toContain(trap.url)
    }
    expect(trap.hits).toEqual([])
    const warned = logsWith('upstream answered with a redirect; not followed')
    expect(warned.length).toBeGreaterThan(0)
    expect(warned[0].location).toBe(`${trap.url}/v1/chat/completions`)
    expect(warned[0].level).toBe('warn')
  })

  test('a 301 on /v1/messages is a 502 in the Anthropic shape', async () => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'moved/m', max_tokens: 10, messages: [{ role: 'user', content: 'the prompt' }] }),
    })
    expect(res.status).toBe(502)
    const body: any = await res.json()
    expect(body.type).toBe('error')
    expect(body.error.type).toBe('api_error')
    expect(body.error.message).toContain('redirect (HTTP 301)')
    expect(trap.hits).toEqual([])
  })

  test('a redirecting target is failed over like a 5xx: the next target answers', async () => {
    const res = await chat('redirect-then-ok')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-provider')).toBe('ok')
    expect(((await res.json()) as any).choices[0].message.content).toBe('Hello world')
    expect(trap.hits).toEqual([])
  })

  test('model discovery does not follow a redirect either', async () => {
    // Discovery of `discover` (GET /models) runs at start-up.
    const discoveryFailed = () => logsWith('model discovery failed; keeping the last known list', 0).find((l) => l.provider === 'discover')
    await eventually(() => discoveryFailed() !== undefined)
    expect(discoveryFailed().err).toContain('redirect')
    expect(discoveryFailed().err).toContain('not followed')
    const models: any = await (await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()
    expect(JSON.stringify(models)).not.toContain('trap-model')
    expect(trap.hits).toEqual([])
  })
})

describe('answers that are not answers', () => {
  test('an HTML page with status 200 is an upstream failure, not a 200', async () => {
    const res = await chat('html/m')
    expect(res.status).toBe(502)
    expect(((await res.json()) as any).error.message).toContain('not JSON')
  })

  test('an HTML page with status 200 is retried on the next target', async () => {
    const res = await chat('html-then-ok')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-provider')).toBe('ok')
  })
})

describe('upstream bodies are read within bounds', () => {
  test('an error body is read up to its limit; the rest is never pulled', async () => {
    const started = Date.now()
    const res = await chat('bigerror/m')
    expect(res.status).toBe(502)
    await res.arrayBuffer()
    // Two attempts of 200 MB each were offered; socket buffers account for a few MB of each.
    expect(produced.get('bigerror')!).toBeLessThan(32 * 1024 * 1024)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  test('a non-stream answer past max_body_bytes is a 502, and the rest is not pulled', async () => {
    const res = await chat('bigjson/m')
    expect(res.status).toBe(502)
    expect(((await res.json()) as any).error.message).toContain(`larger than ${LIMITS.max_body_bytes} bytes`)
    expect(produced.get('bigjson')!).toBeLessThan(32 * 1024 * 1024)
  })

  test('a gzip bomb counts as what it inflates to: 1 MB on the wire, 1 GiB inflated, is a 502', async () => {
    const started = Date.now()
    const res = await chat('bomb/m')
    expect(res.status).toBe(502)
    expect(((await res.json()) as any).error.message).toContain(`larger than ${LIMITS.max_body_bytes} bytes`)
    expect(Date.now() - started).toBeLessThan(3000)
  })

  test('a stream event past max_event_bytes ends the stream with an error event and an error outcome', async () => {
    const res = await chat('longevent/m', { stream: true })
    expect(res.status).toBe(200)
    const text = await res.text()
    // Tails only: a failure must not print megabytes.
    expect(text.slice(0, 200)).toContain('"content":"hi"')
    expect(text.slice(-500)).toContain(`larger than ${LIMITS.max_event_bytes} bytes`)
    expect(text.includes('[DONE]')).toBe(false)
    expect(produced.get('longevent')!).toBeLessThan(32 * 1024 * 1024)
    await eventually(() => requestLogs().length > 0)
    const [line] = requestLogs()
    expect(line.outcome).toBe('error')
    expect(line.error.code).toBe('upstream_error')
  })

  test('the same through translation: an Anthropic client gets its own error event', async () => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'longevent/m', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(res.status).toBe(200)
    const tail = (await res.text()).slice(-500)
    expect(tail).toContain('event: error')
    expect(tail).toContain(`larger than ${LIMITS.max_event_bytes} bytes`)
    expect(produced.get('longevent')!).toBeLessThan(32 * 1024 * 1024)
  })

  test('a first event past max_event_bytes is an upstream failure before anything is sent: the next target answers', async () => {
    const res = await chat('longfirst-then-ok', { stream: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-provider')).toBe('ok')
    const text = await res.text()
    expect(text).toContain('Hello')
    expect(text).toContain('[DONE]')
  })
})

describe('reported usage is bounded', () => {
  const METERED = 'sk-test-metered-key-0123456789'

  test('1e15 tokens are clamped to max_reported_tokens and logged; the key is not locked out', async () => {
    const first = await chat('huge/m', {}, METERED)
    expect(first.status).toBe(200)
    await first.arrayBuffer()
    await eventually(() => requestLogs().length > 0)
    expect(requestLogs()[0].tokens).toEqual({ prompt: 10_000_000, completion: 10_000_000, cached: 0 })
    const warned = logsWith('upstream reported an absurd token count; clamped')
    expect(warned).toHaveLength(1)
    expect(warned[0]).toMatchObject({ provider: 'huge', max: 10_000_000, level: 'warn' })
    // Charged $20 of a $30 budget (not $2e9): the key still works.
    const second = await chat('huge/m', { stream: true, stream_options: { include_usage: true } }, METERED)
    expect(second.status).toBe(200)
    expect(await second.text()).toContain('[DONE]')
    await eventually(() => requestLogs().length > 1)
    expect(requestLogs()[1].tokens).toEqual({ prompt: 10_000_000, completion: 10_000_000, cached: 0 })
    // $40 of $30 now: the budget, charged with bounded amounts, does its job.
    expect((await chat('huge/m', {}, METERED)).status).toBe(429)
  })
})

describe('a client that stops reading', () => {
  test('is named as the cause, not the upstream', async () => {
    const url = new URL(gw.url)
    const body = JSON.stringify({ model: 'flood/m', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const socket = connect(Number(url.port), '127.0.0.1')
    let head = ''
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject)
      socket.on('connect', () => {
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        )
      })
      socket.on('data', (d) => {
        head += d.toString('latin1')
        if (head.includes('\r\n\r\n')) {
          // Headers are in: stop reading while the upstream keeps producing.
          socket.pause()
          resolve()
        }
      })
    })
    expect(head.startsWith('HTTP/1.1 200')).toBe(true)
    try {
      await eventually(() => requestLogs().length > 0, 8000)
      const [line] = requestLogs()
      expect(line.outcome).toBe('client_closed')
      expect(line.error.code).toBe('client_stalled')
      expect(line.error.message).toContain('client stopped reading')
      expect(line.error.message).not.toContain('silent')
      // Backpressure held the upstream back too: it was not read to its end.
      expect(produced.get('flood')!).toBeLessThan(100 * 1024 * 1024)
    } finally {
      socket.destroy()
    }
  }, 15_000)
})
