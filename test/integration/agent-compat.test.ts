import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// What coding agents need beyond the wire protocols: Claude model names aliased by pattern,
// Claude Code's session header for stickiness, HEAD /, and Codex's WebSocket attempt refused fast.
let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream(['deepseek-chat', 'deepseek-reasoner', 'claude-lookalike'])
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'ds', type: 'openai', base_url: mock.baseUrl, keys: ['k1', 'k2', 'k3'], models: ['deepseek-chat', 'deepseek-reasoner', 'claude-lookalike'], sticky: true }],
    aliases: [
      { name: 'claude-*', targets: ['ds/deepseek-chat'] },
      { name: '/^claude-haiku-.*$/', targets: ['ds/deepseek-reasoner'] },
    ],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

describe('Claude model names by pattern', () => {
  const client = () => new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 })

  test('a glob alias covers Claude Code default model and the next one, without config changes', async () => {
    for (const model of ['claude-opus-5-5', 'claude-sonnet-9-9']) {
      const message = await client().messages.create({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      expect(message.content[0]).toMatchObject({ type: 'text' })
      expect(mock.requests.at(-1)!.body.model).toBe('deepseek-chat')
    }
  })

  test('an exact alias or a served id wins over a pattern; a regex alias is matched too', async () => {
    await client().messages.create({ model: 'claude-lookalike', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    expect(mock.requests.at(-1)!.body.model).toBe('claude-lookalike')
    await client().messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    // Patterns are tried in order: the glob comes first and matches.
    expect(mock.requests.at(-1)!.body.model).toBe('deepseek-chat')
  })

  test('/v1/models lists what can be picked, not the patterns', async () => {
    const res = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })
    const ids = ((await res.json()) as any).data.map((m: any) => m.id)
    expect(ids).toContain('deepseek-chat')
    expect(ids.some((id: string) => id.includes('*') || id.startsWith('/'))).toBe(false)
  })

  test('an alias pattern that is not a valid regular expression stops start-up naming the field', async () => {
    await expect(startGateway({ providers: [{ name: 'ds', type: 'openai', base_url: mock.baseUrl, keys: ['k'] }], aliases: [{ name: '/claude-(/', targets: ['ds/x'] }] })).rejects.toThrow(/aliases\[0\]\.name/)
  })
})

describe('what agents send around the protocol', () => {
  test('X-Claude-Code-Session-Id pins a conversation to one upstream key, like x-session-id', async () => {
    const ask = async (session: string | null) => {
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...(session ? { 'x-claude-code-session-id': session } : {}) },
        // A different first message each time: only the session can tie these requests together.
        body: JSON.stringify({ model: 'ds/deepseek-chat', max_tokens: 10, messages: [{ role: 'user', content: `hello ${Math.random()}` }] }),
      })
      expect(res.status).toBe(200)
      return mock.requests.at(-1)!.headers.authorization
    }
    const unpinned = new Set<string>()
    for (let i = 0; i < 6; i++) unpinned.add((await ask(null))!)
    expect(unpinned.size).toBeGreaterThan(1)
    const pinned = new Set<string>()
    for (let i = 0; i < 6; i++) pinned.add((await ask('session-a'))!)
    expect(pinned.size).toBe(1)
  })

  test('HEAD / answers', async () => {
    const res = await fetch(`${gw.url}/`, { method: 'HEAD', redirect: 'manual' })
    expect(res.status).toBeLessThan(400)
  })

  test('a WebSocket upgrade on /v1/responses is refused with 426 in the OpenAI error shape', async () => {
    const res = await fetch(`${gw.baseURL}/responses`, { headers: { authorization: `Bearer ${CLIENT_KEY}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    expect(res.status).toBe(426)
    expect(((await res.json()) as any).error).toMatchObject({ code: 'websocket_not_supported', type: 'invalid_request_error' })
  })
})
