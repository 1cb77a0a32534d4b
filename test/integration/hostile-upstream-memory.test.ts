import { afterAll, beforeAll, expect, test } from 'bun:test'
import { PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'
import { gzipBombResponse } from '../helpers/gzip-bomb.ts'

// What a hostile or broken upstream costs the gateway, measured from outside (/proc of the
// gateway's own process), with the default limits: 64 MiB for a body, 1 MiB for one stream event.

const enc = new TextEncoder()
const MiB = 1024 * 1024

type Behaviour = () => Response
const behaviours = new Map<string, Behaviour>()
let upstream: ReturnType<typeof Bun.serve>

/** A stream made on demand: `head`, then `piece` until `total` bytes (forever when Infinity). */
function onDemand(head: Uint8Array, piece: Uint8Array, total: number): ReadableStream<Uint8Array> {
  let made = 0
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (made >= total) return c.close()
        const next = made === 0 ? head : piece
        made += next.byteLength
        c.enqueue(next)
      },
    },
    { highWaterMark: 0 },
  )
}

const FIRST_EVENT = 'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
const SPACES = enc.encode(' '.repeat(64 * 1024))

beforeAll(() => {
  behaviours.set('/big/v1/chat/completions', () =>
    new Response(onDemand(enc.encode('{"id":"x","pad":"'), SPACES, 300 * 1000 * 1000), { headers: { 'content-type': 'application/json' } }),
  )
  behaviours.set('/bomb/v1/chat/completions', gzipBombResponse)
  behaviours.set('/line/v1/chat/completions', () =>
    new Response(onDemand(enc.encode(`${FIRST_EVENT}data: {"pad":"`), SPACES, 50 * 1000 * 1000), { headers: { 'content-type': 'text/event-stream' } }),
  )
  behaviours.set('/endless/v1/chat/completions', () =>
    new Response(onDemand(enc.encode(`${FIRST_EVENT}data: {"pad":"`), SPACES, Infinity), { headers: { 'content-type': 'text/event-stream' } }),
  )
  upstream = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      await req.arrayBuffer()
      const behaviour = behaviours.get(new URL(req.url).pathname)
      return behaviour ? behaviour() : new Response('not found', { status: 404 })
    },
  })
})

afterAll(() => upstream.stop(true))

/** A gateway process whose one provider is the named behaviour; one attempt, so each number is one read. */
async function gatewayFor(name: string): Promise<ProcessGateway> {
  return startProcessGateway(processConfig(`http://127.0.0.1:${upstream.port}/${name}/v1`, { retry: { max_attempts: 1 }, log: { level: 'warn' } }))
}

const chat = (gw: ProcessGateway, stream = false) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }),
  })

test('a 300 MB JSON answer is a 502 and costs at most about the body limit', async () => {
  const gw = await gatewayFor('big')
  try {
    const res = await chat(gw)
    expect(res.status).toBe(502)
    expect(((await res.json()) as any).error.message).toContain('larger than 67108864 bytes')
    const { peakMiB } = gw.memory()
    console.log(`300 MB answer: peak RSS ${peakMiB.toFixed(0)} MiB`)
    expect(peakMiB).toBeLessThan(250)
    // Three at once hold three bounded reads, not three bodies.
    const all = await Promise.all([chat(gw), chat(gw), chat(gw)])
    expect(all.map((r) => r.status)).toEqual([502, 502, 502])
    const three = gw.memory().peakMiB
    console.log(`three 300 MB answers at once: peak RSS ${three.toFixed(0)} MiB`)
    expect(three).toBeLessThan(400)
  } finally {
    await gw.stop()
  }
}, 30_000)

test('a gzip bomb (1 MB that inflates to 1 GiB) is a 502, counted in inflated bytes', async () => {
  const gw = await gatewayFor('bomb')
  try {
    const started = performance.now()
    const res = await chat(gw)
    expect(res.status).toBe(502)
    expect(((await res.json()) as any).error.message).toContain('larger than 67108864 bytes')
    const ms = performance.now() - started
    const { peakMiB } = gw.memory()
    console.log(`gzip bomb: ${ms.toFixed(0)} ms, peak RSS ${peakMiB.toFixed(0)} MiB`)
    expect(peakMiB).toBeLessThan(250)
  } finally {
    await gw.stop()
  }
}, 30_000)

test('a 50 MB line in a stream ends it with an error event within a second or so, at bounded memory', async () => {
  const gw = await gatewayFor('line')
  try {
    const started = performance.now()
    const res = await chat(gw, true)
    expect(res.status).toBe(200)
    const text = await res.text()
    const ms = performance.now() - started
    // The first event went through; the error event ends the stream (tails only: a failure must not print 50 MB).
    expect(text.slice(0, 200)).toContain('"content":"hi"')
    expect(text.slice(-500)).toContain('larger than 1048576 bytes')
    const { peakMiB } = gw.memory()
    console.log(`50 MB SSE line: ${ms.toFixed(0)} ms, peak RSS ${peakMiB.toFixed(0)} MiB`)
    expect(ms).toBeLessThan(3000)
    expect(peakMiB).toBeLessThan(200)
  } finally {
    await gw.stop()
  }
}, 30_000)

test('a line that never ends is cut past the event limit; /healthz stays fast meanwhile', async () => {
  const gw = await gatewayFor('endless')
  try {
    let streaming = true
    let slowest = 0
    const probe = (async () => {
      while (streaming) {
        const t = performance.now()
        await (await fetch(`${gw.url}/healthz`)).arrayBuffer()
        slowest = Math.max(slowest, performance.now() - t)
        await Bun.sleep(5)
      }
    })()
    const started = performance.now()
    const res = await chat(gw, true)
    const text = await res.text()
    const ms = performance.now() - started
    streaming = false
    await probe
    expect(text.slice(-500)).toContain('larger than 1048576 bytes')
    const { peakMiB } = gw.memory()
    console.log(`endless SSE line: cut after ${ms.toFixed(0)} ms, slowest /healthz ${slowest.toFixed(0)} ms, peak RSS ${peakMiB.toFixed(0)} MiB`)
    expect(ms).toBeLessThan(3000)
    expect(slowest).toBeLessThan(500)
    expect(peakMiB).toBeLessThan(200)
  } finally {
    await gw.stop()
  }
}, 30_000)
