import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockAnthropic, type MockAnthropic } from '../helpers/mock-anthropic.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let claude: MockAnthropic
let gw: TestGateway
let client: OpenAI

beforeAll(async () => {
  mock = startMockUpstream()
  claude = startMockAnthropic()
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['gpt-test'], api: 'both' },
      { name: 'claude', type: 'anthropic', base_url: claude.url, keys: ['k-ant'], models: ['claude-test'] },
      { name: 'pool', type: 'openai', base_url: mock.baseUrl, keys: ['k-1', 'k-2', 'k-3', 'k-4'], models: ['gpt-pool'], api: 'both' },
    ],
  })
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
  claude.stop()
})

const lastLog = async () => {
  let line: any
  await eventually(() => (line = gw.requestLogs().findLast((l) => l.path === '/v1/responses')) !== undefined)
  return line
}

describe('the Responses API, passed through to OpenAI-compatible providers', () => {
  test('non-streamed: the SDK gets the response; usage is recorded', async () => {
    const before = gw.requestLogs().length
    const res = await client.responses.create({ model: 'mock/gpt-test', input: 'hi', instructions: 'Be brief.' })
    expect(res.output_text).toBe('Hello from responses')
    const sent = mock.requests.at(-1)!
    expect(sent.path).toBe('/v1/responses')
    expect(sent.body).toEqual({ model: 'gpt-test', input: 'hi', instructions: 'Be brief.' })
    await eventually(() => gw.requestLogs().length > before)
    expect((await lastLog()).tokens).toEqual({ prompt: 9, completion: 6, cached: 4 })
  })

  test('streamed: named events pass through untouched and the SDK assembles the final response', async () => {
    const stream = client.responses.stream({ model: 'gpt-test', input: 'hi' })
    const deltas: string[] = []
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta))
    const final = await stream.finalResponse()
    expect(deltas.join('')).toBe('Hello from responses')
    expect(final.output_text).toBe('Hello from responses')
    expect(mock.requests.at(-1)!.body.stream_options).toBeUndefined()
    await eventually(async () => (await lastLog()).stream === true)
    expect((await lastLog()).tokens).toEqual({ prompt: 9, completion: 6, cached: 4 })
  })

  test('a model whose provider speaks another protocol is translated to it (Messages here)', async () => {
    const res = await client.responses.create({ model: 'claude-test', input: 'hi', instructions: 'Be brief.' })
    const sent = claude.requests.at(-1)!
    expect(sent.path).toBe('/v1/messages')
    expect(sent.body.system).toEqual([{ type: 'text', text: 'Be brief.' }])
    expect(res.status).toBe('completed')
    expect(res.output_text.length).toBeGreaterThan(0)
    expect(res.id).toStartWith('resp_')
  })
})

describe('responses the upstream stores', () => {
  test('a previous_response_id continues on the upstream key that made the response, streamed or not', async () => {
    let n = 0
    mock.handler = (_req, body) => {
      const id = `resp_stored_${++n}`
      if (body.stream) {
        const response = { id, object: 'response', status: 'completed', model: body.model, output: [], usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }
        const events = [['response.created', { response: { ...response, status: 'in_progress' } }], ['response.completed', { response }]] as const
        return new Response(events.map(([t, d], i) => `event: ${t}\ndata: ${JSON.stringify({ type: t, sequence_number: i, ...d })}\n\n`).join(''), { headers: { 'content-type': 'text/event-stream' } })
      }
      return Response.json({ id, object: 'response', status: 'completed', model: body.model, output: [], usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } })
    }
    try {
      const keyOf = () => mock.requests.at(-1)!.headers.authorization
      // Without a continuation the pool spreads requests over its keys.
      const spread = new Set<string>()
      for (let i = 0; i < 6; i++) {
        await client.responses.create({ model: 'pool/gpt-pool', input: 'hi' })
        spread.add(keyOf()!)
      }
      expect(spread.size).toBeGreaterThan(1)
      for (const stream of [false, true]) {
        const first = stream
          ? await client.responses.stream({ model: 'pool/gpt-pool', input: 'hi' }).finalResponse()
          : await client.responses.create({ model: 'pool/gpt-pool', input: 'hi' })
        const maker = keyOf()
        for (let i = 0; i < 5; i++) {
          await client.responses.create({ model: 'pool/gpt-pool', input: 'more', previous_response_id: first.id })
          expect(keyOf()).toBe(maker)
        }
      }
    } finally {
      mock.handler = null
    }
  })
})
