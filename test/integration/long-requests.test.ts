import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { basicConfig, CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { chunk, endlessStream, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway(basicConfig(mock.baseUrl, { server: { shutdown_grace_ms: 300 } }))
  await eventually(() => mock.requests.some((r) => r.path === '/v1/models'))
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

describe('long requests', () => {
  // Bun closes a connection whose response has been silent for its idle timeout (10 s), even
  // mid-stream; a model thinking before its first token is exactly that.
  test('a stream that pauses longer than the server idle timeout still completes', async () => {
    mock.handler = (_req, _body, seen) => {
      if (seen.path !== '/v1/chat/completions') return Response.json({ object: 'list', data: [{ id: 'mock-model' }] })
      const enc = new TextEncoder()
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ role: 'assistant', content: '' }))}\n\n`))
            await Bun.sleep(11_000)
            c.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ content: 'after a long think' }, 'stop'))}\n\ndata: [DONE]\n\n`))
            c.close()
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    }
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0, timeout: 20_000 })
    const stream = await client.chat.completions.create({ model: 'mock-model', messages: [], stream: true })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
    expect(text).toBe('after a long think')
  }, 20_000)

  test('on shutdown a stream that outlasts the grace period is cut and the server still stops', async () => {
    mock.handler = () => new Response(endlessStream(mock, 20), { headers: { 'content-type': 'text/event-stream' } })
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'mock-model', messages: [], stream: true })
    let received = 0
    const consumed = (async () => {
      try {
        for await (const _ of stream) received++
      } catch {
        // cut mid-stream: expected
      }
    })()
    await eventually(() => received > 2)
    const started = Date.now()
    await gw.server.stop()
    expect(Date.now() - started).toBeLessThan(3000)
    await consumed
    const afterStop = received
    await Bun.sleep(100)
    expect(received).toBe(afterStop)
    await eventually(() => mock.cancelledStreams > 0)
  })
})
