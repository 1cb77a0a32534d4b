import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { chat } from '../helpers/http.ts'
import { chunk, defaultChat, keyOf, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
beforeAll(() => {
  mock = startMockUpstream()
})
afterAll(() => mock.stop())


const config = (providers: object[], extra: object = {}) => ({
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
  retry: { initial_delay_ms: 5, max_delay_ms: 20 },
  routing: { heartbeat_ms: 100 },
  providers,
  ...extra,
})

const sdk = (gw: TestGateway) => new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })

async function collect(stream: AsyncIterable<any>): Promise<string> {
  let text = ''
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
  return text
}

describe('streams under failure', () => {
  test('heartbeat comments keep the client alive before the first token; the SDK ignores them', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-ok'])]))
    mock.handler = async (_req, body) => {
      await Bun.sleep(450)
      return defaultChat(body)
    }
    const raw = await (await chat(gw.baseURL, { model: 'm', stream: true })).text()
    expect(raw.startsWith(': ping\n\n')).toBe(true)
    expect(raw.match(/: ping/g)!.length).toBeGreaterThanOrEqual(3)
    expect(raw).toContain('"Hello"')
    expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true)
    const text = await collect(await sdk(gw).chat.completions.create({ model: 'm', messages: [], stream: true }))
    mock.handler = null
    expect(text).toBe('Hello world')
    await gw.stop()
  })

  test('heartbeats also cover a silent upstream stream before its first event', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-ok'])], { timeouts: { first_byte_ms: 5000 } }))
    const enc = new TextEncoder()
    mock.handler = () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode(': upstream keepalive\n\n'))
            await Bun.sleep(350)
            c.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ content: 'late' }, 'stop'))}\n\ndata: [DONE]\n\n`))
            c.close()
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    const raw = await (await chat(gw.baseURL, { model: 'm', stream: true })).text()
    mock.handler = null
    expect(raw).toContain(': ping')
    expect(raw).toContain('"late"')
    await gw.stop()
  })

  test('a failed attempt behind the heartbeats is invisible: the client just gets the answer', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-bad', 'k-good'])]))
    mock.handler = async (_req, body, seen) => {
      await Bun.sleep(150)
      if (keyOf(seen) === 'k-bad') return Response.json({ error: { message: 'overloaded' } }, { status: 503 })
      return defaultChat(body)
    }
    const text = await collect(await sdk(gw).chat.completions.create({ model: 'm', messages: [], stream: true }))
    mock.handler = null
    expect(text).toBe('Hello world')
    await gw.stop()
  })

  test('when every attempt behind the heartbeats fails, the stream ends with an error event the SDK throws', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-only'])], { retry: { max_attempts: 2, initial_delay_ms: 5, max_delay_ms: 5 } }))
    mock.handler = async () => {
      await Bun.sleep(150)
      return Response.json({ error: { message: 'still overloaded' } }, { status: 503 })
    }
    const stream = await sdk(gw).chat.completions.create({ model: 'm', messages: [], stream: true })
    let error: any
    try {
      await collect(stream)
    } catch (err) {
      error = err
    }
    mock.handler = null
    expect(error?.message).toContain('still overloaded')
    await eventually(() => gw.requestLogs().some((l) => l.error?.code === 'upstream_unavailable'))
    await gw.stop()
  })

  test('nothing is retried once a byte has reached the client; the failure is logged with what was delivered', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-one', 'k-two'])]))
    const enc = new TextEncoder()
    mock.handler = () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ content: 'partial ' }))}\n\n`))
            await Bun.sleep(50)
            c.error(new Error('connection reset'))
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    const before = mock.requests.length
    const seen: string[] = []
    let error: any
    try {
      for await (const c of await sdk(gw).chat.completions.create({ model: 'm', messages: [], stream: true })) {
        seen.push(c.choices[0]?.delta?.content ?? '')
      }
    } catch (err) {
      error = err
    }
    mock.handler = null
    expect(seen).toEqual(['partial '])
    expect(error).toBeDefined()
    expect(mock.requests.length - before).toBe(1)
    await eventually(() => gw.requestLogs().some((l) => l.outcome === 'error' && l.delivered?.events === 1))
    await gw.stop()
  })

  test('fake_stream: the upstream is asked without streaming and the client still gets proper chunks', async () => {
    const gw = await startGateway(config([mock.provider('nostream', ['k-ok'], { fake_stream: true })]))
    mock.handler = (_req, body) =>
      Response.json({
        id: 'c1', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] } }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      })
    const runner = sdk(gw).chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } })
    const final = await runner.finalChatCompletion()
    const sent = mock.requests.at(-1)!.body
    mock.handler = null
    expect(sent.stream).toBeUndefined()
    expect(sent.stream_options).toBeUndefined()
    expect(final.choices[0]!.message.content).toBe('Let me look.')
    const call = final.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && [call.id, call.function.name, call.function.arguments]).toEqual(['call_9', 'lookup', '{"q":"x"}'])
    expect(final.usage?.total_tokens).toBe(7)
    await gw.stop()
  })

  test('stream_only: a non-stream client gets one aggregated completion', async () => {
    const gw = await startGateway(config([mock.provider('streamer', ['k-ok'], { stream_only: true })]))
    mock.handler = (_req, body) => {
      expect(body.stream).toBe(true)
      return new Response(
        sse([
          chunk({ role: 'assistant', content: '' }),
          chunk({ content: 'Hel' }),
          chunk({ content: 'lo', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }, 'tool_calls'),
          { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } },
          '[DONE]',
        ]),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    }
    const res = await sdk(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
    mock.handler = null
    expect(res.object).toBe('chat.completion')
    expect(res.choices[0]!.message.content).toBe('Hello')
    expect(res.choices[0]!.finish_reason).toBe('tool_calls')
    const call = res.choices[0]!.message.tool_calls![0]!
    expect(call.type === 'function' && call.function.arguments).toBe('{"a":1}')
    expect(res.usage?.total_tokens).toBe(5)
    await gw.stop()
  })
})
