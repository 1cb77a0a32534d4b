import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import OpenAI from 'openai'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startWebChat } from '../helpers/mock-adapter-services.ts'

const example = (name: string) => readFileSync(resolve(import.meta.dir, '../../examples/flows', name), 'utf8')
const encoder = new TextEncoder()


/** A service with short-lived access tokens: each lives two seconds. */
function startTokenService() {
  let issued = 0
  let ttlS = 2
  const live = new Map<string, number>()
  const refreshTokens = new Set<string>(['rt-first'])
  const tokenCalls: any[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const body: any = await req.json().catch(() => null)
      if (url.pathname === '/auth/token') {
        tokenCalls.push(body)
        await Bun.sleep(30)
        if (body?.refresh_token !== 'refresh-token-0001') return Response.json({ error: 'invalid_grant' }, { status: 400 })
        const token = `at-${++issued}`
        live.set(token, Date.now() + ttlS * 1000)
        return Response.json({ access_token: token, expires_in: ttlS })
      }
      if (url.pathname === '/auth/rotating') {
        tokenCalls.push(body)
        if (!refreshTokens.delete(body?.refresh_token)) return Response.json({ error: 'invalid_grant' }, { status: 400 })
        const next = `rt-${++issued}`
        refreshTokens.add(next)
        const token = `at-${issued}`
        live.set(token, Date.now() + ttlS * 1000)
        return Response.json({ access_token: token, expires_in: ttlS, refresh_token: next })
      }
      const token = (req.headers.get('authorization') ?? '').replace('Bearer ', '')
      if (!((live.get(token) ?? 0) > Date.now())) return Response.json({ error: 'expired' }, { status: 401 })
      return Response.json({ output: { text: `${body.model} says hi to ${body.input.at(-1).content} (${token})`, stop: 'max_tokens' }, usage: { in: 5, out: 9 } })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, tokenCalls, expire: () => live.clear(), lifetime: (s: number) => void (ttlS = s), stop: () => server.stop(true) }
}

let web: ReturnType<typeof startWebChat>
let gen: ReturnType<typeof startTokenService>
let gw: TestGateway
let gwToken: TestGateway
const client = (g: TestGateway) => new OpenAI({ apiKey: CLIENT_KEY, baseURL: g.baseURL, maxRetries: 0 })

beforeAll(async () => {
  web = startWebChat()
  gen = startTokenService()
  // The examples exactly as they are in the repository, pointed at the mock services.
  gw = await startGateway(example('conversation-chat.yaml'), { SLUICE_CLIENT_KEY: CLIENT_KEY, WEBCHAT_TOKEN_1: 'expired-token-0002', WEBCHAT_TOKEN_2: 'good-token-0001', WEBCHAT_BASE_URL: web.url, WEBCHAT_ALLOW_PRIVATE: 'true' })
  gwToken = await startGateway(example('short-lived-token.yaml'), { SLUICE_CLIENT_KEY: CLIENT_KEY, GEN_REFRESH_TOKEN: 'refresh-token-0001', GEN_BASE_URL: gen.url, GEN_ALLOW_PRIVATE: 'true' })
})
afterAll(async () => {
  await gw?.stop()
  await gwToken?.stop()
  web.stop()
  gen.stop()
})

describe('type: flow, the seed projects in YAML alone', () => {
  test('conversation, then chat with the id in the URL and the Referer; cumulative SSE becomes deltas; a refused token fails over', async () => {
    const stream = await client(gw).chat.completions.create({ model: 'webchat-default', messages: [{ role: 'user', content: 'Hi there' }], stream: true })
    const pieces: string[] = []
    let finish: string | null = null
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) pieces.push(chunk.choices[0].delta.content)
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(pieces).toEqual(['Hel', 'lo in conv-1'])
    expect(finish).toBe('stop')
    const chat = web.calls.find((c) => c.path === '/api/chat/conv-1')!
    expect(chat.referer).toBe(`${web.url}/chat/conv-1`)
    expect(chat.body).toEqual({ prompt: 'Hi there', model: 'webchat-default', stream: true })
    // The expired token was tried first (401 at the conversation step) and cools down.
    expect(web.calls.some((c) => c.auth === 'Bearer expired-token-0002')).toBe(true)
    const providers = (await (await fetch(`${gw.url}/health`)).json()) as any
    expect(JSON.stringify(providers)).not.toContain('good-token-0001')
  })

  test('the same conversation keeps its upstream conversation; a new one gets a new id', async () => {
    const ask = (first: string, more: { role: 'assistant' | 'user'; content: string }[] = []) =>
      client(gw).chat.completions.create({ model: 'webchat-default', messages: [{ role: 'user', content: first }, ...more] })
    const again = await ask('Hi there', [{ role: 'assistant', content: 'Hello in conv-1' }, { role: 'user', content: 'And now?' }])
    expect(again.choices[0]!.message.content).toBe('Hello in conv-1')
    const other = await ask('A new topic')
    expect(other.choices[0]!.message.content).toBe('Hello in conv-2')
    expect(web.calls.filter((c) => c.path === '/api/conversation' && c.auth === 'Bearer good-token-0001')).toHaveLength(2)
  })

  test('short-lived tokens: 100 concurrent requests cause exactly one token fetch; an expired token is fetched again', async () => {
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => client(gwToken).chat.completions.create({ model: 'gen-large', messages: [{ role: 'user', content: `n${i}` }] })))
    expect(gen.tokenCalls).toEqual([{ refresh_token: 'refresh-token-0001' }])
    expect(answers[7]!.choices[0]!.message.content).toBe('gen-large says hi to n7 (at-1)')
    expect(answers[7]!.choices[0]!.finish_reason).toBe('length')
    expect(answers[7]!.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 9 })
    // The service forgets the token: the 401 brings one fresh token, and the request succeeds.
    gen.expire()
    const after = await client(gwToken).chat.completions.create({ model: 'gen-large', messages: [{ role: 'user', content: 'later' }] })
    expect(after.choices[0]!.message.content).toBe('gen-large says hi to later (at-2)')
    expect(gen.tokenCalls).toHaveLength(2)
    // Its lifetime (2 s, minus 1 s refresh margin) passes: fetched again before use.
    await Bun.sleep(1100)
    const third = await client(gwToken).chat.completions.create({ model: 'gen-large', messages: [{ role: 'user', content: 'third' }] })
    expect(third.choices[0]!.message.content).toContain('(at-3)')
  })

  test('a flow the config gets wrong stops the start, naming the field', async () => {
    const failure = (yaml: string) => startGateway(yaml).then(async (g) => { await g.stop(); return '' }, (e: Error) => e.message)
    const base = `providers:\n  - name: f\n    type: flow\n    models: [m]\n    keys: [k0000000001]\n    flow:\n      base_url: http://x\n`
    expect(await failure(base + '      answer: { format: sse, text: a }\n')).toContain('providers[0].flow.request: required field is missing')
    expect(await failure(base + '      request: { url: "{base_url}/c" }\n      answer: { format: xml, text: a }\n')).toContain('providers[0].flow.answer.format')
    expect(await failure('providers:\n  - { name: f, type: flow, models: [m], keys: [k0000000001] }\n')).toContain('providers[0].flow: required for type flow')
  })

  test('a cached token outlives a restart, sealed in the database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-flow-kv-'))
    const env = { SLUICE_CLIENT_KEY: CLIENT_KEY, GEN_REFRESH_TOKEN: 'refresh-token-0001', GEN_BASE_URL: gen.url, GEN_ALLOW_PRIVATE: 'true' }
    gen.lifetime(300)
    try {
      const first = await startGateway(example('short-lived-token.yaml'), env, { dir })
      const before = gen.tokenCalls.length
      const a = await client(first).chat.completions.create({ model: 'gen-large', messages: [{ role: 'user', content: 'one' }] })
      const token = /\((at-\d+)\)/.exec(a.choices[0]!.message.content!)![1]!
      expect(gen.tokenCalls.length).toBe(before + 1)
      await first.stop()
      expect(readFileSync(join(dir, 'test.db')).includes(Buffer.from(token))).toBe(false)
      const second = await startGateway(example('short-lived-token.yaml'), env, { dir })
      try {
        const b = await client(second).chat.completions.create({ model: 'gen-large', messages: [{ role: 'user', content: 'two' }] })
        expect(b.choices[0]!.message.content).toContain(`(${token})`)
        expect(gen.tokenCalls.length).toBe(before + 1)
      } finally {
        await second.stop()
      }
    } finally {
      gen.lifetime(2)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a rotated refresh token is saved to the stored account before the new token is used', async () => {
    const admin = 'admin-token-flow-rotation-01'
    const config = {
      admin: { token: admin },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'rot', type: 'flow', models: ['rot-model'], keys: [], allow_private: true, flow: {
        base_url: gen.url,
        token: { url: '{base_url}/auth/rotating', body: { refresh_token: '{credential}' }, value: 'access_token', expires_in: 'expires_in', rotate: 'refresh_token', refresh_before_s: 0 },
        headers: { authorization: 'Bearer {token}' },
        request: { url: '{base_url}/v1/generate', body: { model: '{model}', input: '{messages}' } },
        answer: { format: 'json', text: 'output.text' },
      } }],
    }
    const g = await startGateway(config)
    try {
      const imported = await fetch(`${g.url}/admin/api/accounts`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'rot', credentials: { token: 'rt-first' } }) })
      expect(imported.status).toBe(201)
      const ask = () => client(g).chat.completions.create({ model: 'rot-model', messages: [{ role: 'user', content: 'x' }] })
      expect((await ask()).choices[0]!.message.content).toContain('says hi to x')
      // The access token is forgotten upstream: the next token call must use the rotated refresh token.
      gen.expire()
      expect((await ask()).choices[0]!.message.content).toContain('says hi to x')
      const used = gen.tokenCalls.slice(-2).map((c) => c.refresh_token)
      expect(used[0]).toBe('rt-first')
      expect(used[1]).toMatch(/^rt-\d+$/)
    } finally {
      await g.stop()
    }
  })
})
