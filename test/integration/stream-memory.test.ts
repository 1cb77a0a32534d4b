import { afterAll, beforeAll, expect, test } from 'bun:test'
import { heapStats } from 'bun:jsc'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'

// Long streams of big conversations (coding agents send 100 KB and more) are the common case: a
// stream must not keep its request body, the parsed copy or the upstream payload alive while it runs.
const STREAMS = 8
const BODY_MIB = 4

const enc = new TextEncoder()
const first = enc.encode('data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n')
const last = enc.encode(
  'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
    'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\ndata: [DONE]\n\n',
)

let release!: () => void
const released = new Promise<void>((resolve) => (release = resolve))
let upstream: ReturnType<typeof Bun.serve>
let gw: TestGateway

beforeAll(async () => {
  // An upstream that reads and forgets the body, sends one event and holds the stream open.
  upstream = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      // Read in pieces and let go of each: this upstream shares the test's heap.
      for await (const _ of req.body!) void _
      return new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(first)
            await released
            controller.enqueue(last)
            controller.close()
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    },
  })
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.port}/v1`, keys: ['k-upstream'], models: ['m'] }],
  })
})

afterAll(async () => {
  release()
  await gw.stop()
  upstream.stop(true)
})

function heapBytes(): number {
  Bun.gc(true)
  Bun.gc(true)
  const s = heapStats()
  return s.heapSize + s.extraMemorySize
}

test(`${STREAMS} streams held open with ${BODY_MIB} MiB bodies: the bodies are not kept`, async () => {
  const before = heapBytes()
  // The client runs in its own process, so its copies of the bodies are not in this heap.
  const client = Bun.spawn(
    [
      process.execPath,
      '-e',
      `const [url, key, n, mib] = process.argv.slice(1)
       const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x'.repeat(Number(mib) * 1048576) }] })
       const readers = await Promise.all(Array.from({ length: Number(n) }, async () => {
         const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' }, body })
         const reader = res.body.getReader()
         await reader.read()
         return reader
       }))
       console.log('open')
       let text = ''
       for (const r of readers) for (;;) { const { done, value } = await r.read(); if (done) break; text += new TextDecoder().decode(value) }
       console.log(text.split('[DONE]').length - 1)`,
      `${gw.baseURL}/chat/completions`,
      CLIENT_KEY,
      String(STREAMS),
      String(BODY_MIB),
    ],
    { stdout: 'pipe' },
  )
  const out = client.stdout.getReader()
  let text = ''
  while (!text.includes('open')) {
    const { done, value } = await out.read()
    if (done) throw new Error(`the client ended: ${text}`)
    text += new TextDecoder().decode(value)
  }
  const during = heapBytes()
  release()
  for (;;) {
    const { done, value } = await out.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  expect(await client.exited).toBe(0)
  expect(text.trim().split('\n').at(-1)).toBe(String(STREAMS))
  // Kept, each body would take three times its size or more (bytes, parsed copy, upstream payload):
  // over 170 MB here before the fix, about 40 MB after it (the heap does not shrink to its live
  // size at once), so the line is drawn at twice the bodies' size.
  expect(during - before).toBeLessThan(STREAMS * BODY_MIB * 1048576 * 2)
}, 30_000)
