import { afterAll, beforeAll, expect, test } from 'bun:test'
import OpenAI from 'openai'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { defaultChat, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// One model's failures pause that model only: a healthy model of the same provider keeps being
// served, the opening and the closing are logged, and /health says degraded and which model.
let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream(['broken', 'healthy'])
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'p', type: 'openai', base_url: mock.baseUrl, keys: ['k'], models: ['broken', 'healthy'] }],
    circuit_breaker: { failure_threshold: 2, open_ms: 400 },
    retry: { max_attempts: 1 },
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

test('a failing model opens its own circuit, not its provider\'s; it closes again when the model answers', async () => {
  let down = true
  mock.handler = (_req, body) => (body.model === 'broken' && down ? Response.json({ error: { message: 'model overloaded', type: 'server_error' } }, { status: 500 }) : defaultChat(body))
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
  const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).then(() => 200, (e) => e.status as number)
  try {
    for (let i = 0; i < 3; i++) await ask('broken')
    expect(gw.logs.some((l) => l.includes('circuit opened') && l.includes('"model":"broken"'))).toBe(true)
    // The other model of the same provider is served meanwhile.
    expect(await ask('healthy')).toBe(200)
    expect(await ask('broken')).toBe(503)
    const health = (await fetch(`${gw.url}/health`).then((r) => r.json())) as any
    expect(health.status).toBe('degraded')
    expect(health.providers[0].paused_models).toEqual([expect.objectContaining({ model: 'broken', state: 'open' })])
    // After the pause, one probe goes through; the model answers and the circuit closes.
    down = false
    await Bun.sleep(450)
    expect(await ask('broken')).toBe(200)
    expect(gw.logs.some((l) => l.includes('circuit closed') && l.includes('"model":"broken"'))).toBe(true)
    const after = (await fetch(`${gw.url}/health`).then((r) => r.json())) as any
    expect(after.status).toBe('ok')
    expect(after.providers[0].paused_models).toEqual([])
  } finally {
    mock.handler = null
  }
})
