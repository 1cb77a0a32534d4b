import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { CLIENT_KEY, startGateway } from '../helpers/gateway.ts'
import { chat } from '../helpers/http.ts'
import { defaultChat, keyOf, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
beforeAll(() => {
  mock = startMockUpstream()
})
afterAll(() => mock.stop())


const config = (providers: object[], extra: object = {}) => ({
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
  retry: { initial_delay_ms: 5, max_delay_ms: 20 },
  providers,
  ...extra,
})

describe('failover and aliases', () => {
  test('a bare model served by several providers fails over to the next one', async () => {
    const gw = await startGateway(config([mock.provider('first', ['k-500-a']), mock.provider('second', ['k-ok-b'])]))
    const res = await chat(gw.baseURL, { model: 'm' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-provider')).toBe('second')
    expect(res.headers.get('x-sluice-model')).toBe('second/m')
    expect(res.headers.get('x-sluice-attempts')).toBe('2')
    expect(Number(res.headers.get('x-sluice-overhead-ms'))).toBeGreaterThanOrEqual(0)
    await gw.stop()
  })

  test('an alias falls back across providers and models; the answer says which model answered', async () => {
    const gw = await startGateway(
      config([mock.provider('openai', ['k-500-x'], { models: ['gpt-4o'] }), mock.provider('deepseek', ['k-ok-y'], { models: ['deepseek-chat'] })], {
        aliases: [{ name: 'smart', targets: ['openai/gpt-4o', 'deepseek/deepseek-chat'], strategy: 'fallback' }],
      }),
    )
    const res = await chat(gw.baseURL, { model: 'smart' })
    expect(res.status).toBe(200)
    const json: any = await res.json()
    expect(json.model).toBe('deepseek-chat')
    expect(res.headers.get('x-sluice-model')).toBe('deepseek/deepseek-chat')
    const models: any = await (await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()
    expect(models.data.map((m: any) => m.id)).toContain('smart')
    await gw.stop()
  })

  test('a client error is not retried elsewhere: the request itself is wrong', async () => {
    const gw = await startGateway(config([mock.provider('a', ['k-ok-a']), mock.provider('b', ['k-ok-b'])]))
    mock.handler = () => Response.json({ error: { message: 'bad param', type: 'invalid_request_error', param: null, code: null } }, { status: 400 })
    const before = mock.requests.length
    const res = await chat(gw.baseURL, { model: 'm' })
    mock.handler = null
    expect(res.status).toBe(400)
    expect(mock.requests.length - before).toBe(1)
    await gw.stop()
  })

  test('round-robin rotates the first target', async () => {
    const gw = await startGateway(
      config([mock.provider('a', ['k-ok-a']), mock.provider('b', ['k-ok-b'])], {
        aliases: [{ name: 'rr', targets: ['a/m', 'b/m'], strategy: 'round-robin' }],
      }),
    )
    const providers: string[] = []
    for (let i = 0; i < 4; i++) providers.push((await chat(gw.baseURL, { model: 'rr' })).headers.get('x-sluice-provider')!)
    expect(providers).toEqual(['a', 'b', 'a', 'b'])
    await gw.stop()
  })

  test('least-latency prefers the faster target once both are measured', async () => {
    const gw = await startGateway(
      config([mock.provider('slow', ['k-slow']), mock.provider('fast', ['k-fast'])], {
        aliases: [{ name: 'quick', targets: ['slow/m', 'fast/m'], strategy: 'least-latency' }],
      }),
    )
    mock.handler = async (_req, body, seen) => {
      if (keyOf(seen) === 'k-slow') await Bun.sleep(150)
      return defaultChat(body)
    }
    const providers: string[] = []
    for (let i = 0; i < 5; i++) providers.push((await chat(gw.baseURL, { model: 'quick' })).headers.get('x-sluice-provider')!)
    mock.handler = null
    // The first two requests measure both; then the fast one wins.
    expect(providers.slice(2)).toEqual(['fast', 'fast', 'fast'])
    await gw.stop()
  })

  test('sticky conversations keep their key; others spread', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-ok-1', 'k-ok-2', 'k-ok-3'], { sticky: true })]))
    const keysFor = async (extra: object, headers: Record<string, string> = {}) => {
      const before = mock.requests.length
      for (let i = 0; i < 3; i++) expect((await chat(gw.baseURL, { model: 'm', ...extra }, headers)).status).toBe(200)
      return mock.requests.slice(before).map(keyOf)
    }
    const alice = await keysFor({ user: 'alice' })
    expect(new Set(alice).size).toBe(1)
    const session = await keysFor({}, { 'x-session-id': 'conversation-42' })
    expect(new Set(session).size).toBe(1)
    // Same system prompt and first message: the same conversation, growing.
    const before = mock.requests.length
    for (const turns of [1, 3, 5]) {
      const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'first question' }]
      for (let i = 1; i < turns; i++) messages.push({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}` })
      await chat(gw.baseURL, { model: 'm', messages })
    }
    expect(new Set(mock.requests.slice(before).map(keyOf)).size).toBe(1)
    await gw.stop()
  })

  test('a sticky key that becomes unusable is left for another one', async () => {
    const gw = await startGateway(config([mock.provider('p', ['k-ok-1', 'k-ok-2'], { sticky: true })]))
    await chat(gw.baseURL, { model: 'm', user: 'bob' })
    const pinned = keyOf(mock.requests.at(-1)!)
    mock.handler = (_req, body, seen) =>
      keyOf(seen) === pinned ? Response.json({ error: { message: 'limit' } }, { status: 429, headers: { 'retry-after': '30' } }) : defaultChat(body)
    const res = await chat(gw.baseURL, { model: 'm', user: 'bob' })
    mock.handler = null
    expect(res.status).toBe(200)
    expect(keyOf(mock.requests.at(-1)!)).not.toBe(pinned)
    await gw.stop()
  })
})

describe('circuit breaker', () => {
  test('opens after repeated failures, skips the provider, then closes after a successful probe', async () => {
    const gw = await startGateway(
      config([mock.provider('flaky', ['k-ok-f'])], { retry: { max_attempts: 1 }, circuit_breaker: { failure_threshold: 2, open_ms: 300 } }),
    )
    mock.handler = () => Response.json({ error: { message: 'down' } }, { status: 500 })
    expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(502)
    expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(502)
    const before = mock.requests.length
    const open = await chat(gw.baseURL, { model: 'm' })
    expect(open.status).toBe(503)
    expect(Number(open.headers.get('retry-after'))).toBeGreaterThanOrEqual(0)
    expect(mock.requests.length).toBe(before)
    let health: any = await (await fetch(`${gw.url}/health`)).json()
    expect(health.providers[0].circuit).toBe('open')

    await Bun.sleep(350)
    mock.handler = null
    expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(200)
    health = await (await fetch(`${gw.url}/health`)).json()
    expect(health.providers[0].circuit).toBe('closed')
    await gw.stop()
  })

  test('while a provider is open, its traffic goes to the next provider', async () => {
    const gw = await startGateway(
      config([mock.provider('a', ['k-500-a']), mock.provider('b', ['k-ok-b'])], { circuit_breaker: { failure_threshold: 1, open_ms: 60_000 } }),
    )
    expect((await chat(gw.baseURL, { model: 'm' })).headers.get('x-sluice-provider')).toBe('b')
    const before = mock.requests.length
    const res = await chat(gw.baseURL, { model: 'm' })
    expect(res.headers.get('x-sluice-attempts')).toBe('1')
    expect(mock.requests.slice(before).map(keyOf)).toEqual(['k-ok-b'])
    await gw.stop()
  })
})
