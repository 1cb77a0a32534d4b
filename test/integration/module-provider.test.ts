import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'

const EXAMPLE = resolve(import.meta.dir, '../../examples/adapters/ndjson-chat.ts')
const GOOD = 'ndjson-token-good-0001'
const REVOKED = 'ndjson-token-revoked-0002'

/** A service that is not OpenAI-compatible: NDJSON lines from POST /generate, token auth. */
function startNdjsonService() {
  const seen: { auth: string | null; body: any }[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const body = await req.json()
      seen.push({ auth: req.headers.get('authorization'), body })
      if (req.headers.get('authorization') !== `Token ${GOOD}`) return Response.json({ error: { code: 'unauthorized' } }, { status: 401 })
      const lines = [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo from NDJSON' }, { type: 'done', reason: 'max_tokens', usage: { input: 12, output: 7 } }]
      const stream = new ReadableStream({
        async start(controller) {
          for (const line of lines) {
            controller.enqueue(new TextEncoder().encode(JSON.stringify(line) + '\n'))
            await Bun.sleep(5)
          }
          controller.close()
        },
      })
      return new Response(stream, { headers: { 'content-type': 'application/x-ndjson' } })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) }
}

let service: ReturnType<typeof startNdjsonService>
let gw: TestGateway
const config = (extra: Record<string, unknown> = {}, provider: Record<string, unknown> = {}) => ({
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
  providers: [{ name: 'ndjson', type: 'module', path: EXAMPLE, options: { base_url: service.url }, allow_private: true, models: ['ndjson-small'], keys: [REVOKED, GOOD], ...provider }],
  ...extra,
})

beforeAll(async () => {
  service = startNdjsonService()
  gw = await startGateway(config())
})
afterAll(async () => {
  await gw?.stop()
  service.stop()
})

describe('type: module, an adapter file as the last mile', () => {
  test('OpenAI clients, streamed and not, through the example NDJSON adapter; a refused token fails over to the next', async () => {
    const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const answer = await openai.chat.completions.create({ model: 'ndjson-small', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] })
    expect(answer.choices[0]!.message.content).toBe('Hello from NDJSON')
    expect(answer.choices[0]!.finish_reason).toBe('length')
    expect(answer.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 })
    expect(service.seen.at(-1)!.body).toEqual({ model: 'ndjson-small', prompt: 'system: Be brief.\nuser: Hi', stream: true })
    // The revoked token was tried and refused, then the good one answered; the revoked one cools down.
    expect(service.seen.some((s) => s.auth === `Token ${REVOKED}`)).toBe(true)

    const stream = await openai.chat.completions.create({ model: 'ndjson-small', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } })
    const pieces: string[] = []
    let usage: unknown = null
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta.content
      if (text) pieces.push(text)
      if (chunk.usage) usage = chunk.usage
    }
    expect(pieces).toEqual(['Hel', 'lo from NDJSON'])
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 })
    await eventually(() => gw.requestLogs().filter((l) => l.provider === 'ndjson' && l.tokens?.completion === 7).length >= 2)
  })

  test('an Anthropic client gets the same adapter translated, streamed', async () => {
    const anthropic = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 })
    const events: string[] = []
    const stream = anthropic.messages.stream({ model: 'ndjson-small', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] })
    stream.on('text', (t) => events.push(t))
    const final = await stream.finalMessage()
    expect(events.join('')).toBe('Hello from NDJSON')
    expect(final.stop_reason).toBe('max_tokens')
    expect(final.usage.output_tokens).toBe(7)
  })

  test('without allow_private, the adapter cannot reach a private address: a 502 that says why', async () => {
    const closed = await startGateway(config({}, { allow_private: false }))
    try {
      const res = await fetch(`${closed.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'ndjson-small', messages: [{ role: 'user', content: 'Hi' }] }) })
      expect(res.status).toBe(502)
      const { error } = (await res.json()) as any
      expect(error.message).toContain('adapter failed')
      expect(error.message).toMatch(/private|loopback/)
    } finally {
      await closed.stop()
    }
  })

  test('bad options, a missing file and a syntax error stop the start with the field or file and line named', async () => {
    const failure = (c: object) => startGateway(c).then(async (g) => { await g.stop(); return '' }, (e: Error) => e.message)
    expect(await failure(config({}, { options: { base_url: 'ftp://x' } }))).toContain('providers[0].options.base_url')
    expect(await failure(config({}, { path: '/nonexistent/adapter.ts' }))).toContain('providers[0].path: /nonexistent/adapter.ts: cannot read the adapter file')
    const dir = mkdtempSync(join(tmpdir(), 'sluice-adapter-'))
    try {
      writeFileSync(join(dir, 'broken.ts'), 'export default (sluice) => ({\n  apiVersion: 1,\n  protocol: "openai-chat"\n  handle() {}\n})\n')
      const message = await failure(config({}, { path: join(dir, 'broken.ts') }))
      expect(message).toContain('broken.ts')
      expect(message).toMatch(/broken\.ts:4|line 4|4:\d/)
      writeFileSync(join(dir, 'old.ts'), 'export default () => ({ apiVersion: 0, protocol: "openai-chat", handle() {} })\n')
      expect(await failure(config({}, { path: join(dir, 'old.ts') }))).toContain('apiVersion: expected 1, got 0')
      expect(await failure(config({}, { models: undefined }))).toContain('providers[0].models: required for type module')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a reload loads a changed adapter file; a module provider cannot be added from the admin API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-adapter-'))
    const file = join(dir, 'echo.ts')
    const echo = (word: string) => `export default (sluice) => ({ apiVersion: 1, protocol: 'openai-chat', async handle(request) { return sluice.chat.completion({ model: request.model, text: '${word}' }) } })\n`
    writeFileSync(file, echo('first'))
    const g = await startGateway({ admin: { token: 'admin-token-module-tests-1' }, auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] }, providers: [{ name: 'echo', type: 'module', path: file, models: ['echo'], keys: ['unused-token-0000000001'] }] })
    try {
      const ask = async () => (await new OpenAI({ apiKey: CLIENT_KEY, baseURL: g.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content
      expect(await ask()).toBe('first')
      await Bun.sleep(20)
      writeFileSync(file, echo('second'))
      expect((await g.server.reload()).ok).toBe(true)
      expect(await ask()).toBe('second')
      const res = await fetch(`${g.url}/admin/api/config/providers`, { method: 'POST', headers: { authorization: 'Bearer admin-token-module-tests-1', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'sneaky', type: 'module', path: file, models: ['x'], keys: [{ key: 'k-000000000000000001' }] }) })
      expect(res.status).toBe(400)
      expect(((await res.json()) as any).error.message).toContain('only be defined in the config file')
    } finally {
      await g.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('the test kit: exchanges recorded once (no secret in the file), then replayed with the service gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fixtures-'))
    const file = join(dir, 'ndjson.json')
    const withEnv = async (name: string, value: string, start: () => Promise<TestGateway>) => {
      process.env[name] = value
      try {
        return await start()
      } finally {
        delete process.env[name]
      }
    }
    const ask = (g: TestGateway, content = 'Hi') => new OpenAI({ apiKey: CLIENT_KEY, baseURL: g.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'ndjson-small', messages: [{ role: 'user', content }] })
    const own = startNdjsonService()
    try {
      const recording = await withEnv('SLUICE_ADAPTER_RECORD', file, () => startGateway(config({}, { options: { base_url: own.url }, keys: [GOOD] })))
      expect((await ask(recording)).choices[0]!.message.content).toBe('Hello from NDJSON')
      await recording.stop()
    } finally {
      own.stop()
    }
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain(GOOD)
    expect(JSON.parse(text)).toEqual([expect.objectContaining({ request: expect.objectContaining({ method: 'POST', url: `${own.url}/generate`, headers: expect.objectContaining({ authorization: '[redacted]' }) }) })])
    const replaying = await withEnv('SLUICE_ADAPTER_REPLAY', file, () => startGateway(config({}, { options: { base_url: own.url }, keys: [GOOD] })))
    try {
      const again = await ask(replaying)
      expect(again.choices[0]!.message.content).toBe('Hello from NDJSON')
      expect(again.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 })
      // A request the recording does not have fails, naming it; nothing reaches the network.
      const res = await fetch(`${replaying.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'ndjson-small', messages: [{ role: 'user', content: 'something else' }] }) })
      expect(res.status).toBe(502)
      expect(((await res.json()) as any).error.message).toContain('no recorded exchange for POST')
    } finally {
      await replaying.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test("the README's adapter, as written, answers through the gateway", async () => {
    const readme = readFileSync(resolve(import.meta.dir, '../../README.md'), 'utf8')
    const source = /### An adapter file[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)![1]!
    const dir = mkdtempSync(join(tmpdir(), 'sluice-readme-adapter-'))
    const service = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: async (req) => Response.json({ text: `from the README, ${((await req.json()) as any).messages.length} message` }) })
    try {
      writeFileSync(join(dir, 'readme.ts'), source)
      const g = await startGateway({ auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] }, providers: [{ name: 'readme', type: 'module', path: join(dir, 'readme.ts'), options: { base_url: `http://127.0.0.1:${service.port}` }, allow_private: true, models: ['readme-model'], keys: ['token-000000000001'] }] })
      try {
        const answer = await new OpenAI({ apiKey: CLIENT_KEY, baseURL: g.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'readme-model', messages: [{ role: 'user', content: 'x' }] })
        expect(answer.choices[0]!.message.content).toBe('from the README, 1 message')
      } finally {
        await g.stop()
      }
    } finally {
      service.stop(true)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test("a 429 scoped to one model rests the account for that model only", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-scope-'))
    const file = join(dir, 'scoped.ts')
    // Account "first" has no quota left for model a; model b still works on it.
    writeFileSync(file, `export default (sluice) => ({ apiVersion: 1, protocol: 'openai-chat', async handle(request, ctx) {
      const who = ctx.account.credentials.token
      if (request.model === 'a' && who === 'first-token-000001') return sluice.chat.error(429, 'daily quota of model a used up', { scope: 'model', retryAfterS: 600 })
      return sluice.chat.completion({ model: request.model, text: request.model + ' by ' + who })
    } })\n`)
    const g = await startGateway({ auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] }, providers: [{ name: 'scoped', type: 'module', path: file, models: ['a', 'b'], sticky: false, keys: ['first-token-000001', 'second-token-00002'] }] })
    try {
      const ask = async (model: string) => (await new OpenAI({ apiKey: CLIENT_KEY, baseURL: g.baseURL, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content
      expect(await ask('a')).toBe('a by second-token-00002')
      // The first account is the least recently used now, and serves b: it was not rested as a whole.
      expect(await ask('b')).toBe('b by first-token-000001')
      expect(await ask('a')).toBe('a by second-token-00002')
      expect(await ask('a')).toBe('a by second-token-00002')
    } finally {
      await g.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('max_concurrent_per_key: an account serves one request at a time; the others wait for a free one', async () => {
    const active = new Map<string, number>()
    let peak = 0
    const service = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch(req) {
        const who = req.headers.get('authorization') ?? ''
        active.set(who, (active.get(who) ?? 0) + 1)
        peak = Math.max(peak, active.get(who)!)
        await Bun.sleep(200)
        active.set(who, active.get(who)! - 1)
        return Response.json({ text: 'one at a time' })
      },
    })
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cap-'))
    writeFileSync(join(dir, 'one.ts'), `export default (sluice) => ({ apiVersion: 1, protocol: 'openai-chat', async handle(request, ctx) {
      const res = await ctx.fetch(ctx.options.url, { method: 'POST', headers: { authorization: ctx.account.credentials.token }, body: '{}' })
      return sluice.chat.completion({ model: request.model, text: (await sluice.read.json(res, 65536)).text })
    } })\n`)
    const g = await startGateway({ auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] }, providers: [{ name: 'one', type: 'module', path: join(dir, 'one.ts'), options: { url: `http://127.0.0.1:${service.port}` }, allow_private: true, models: ['m'], keys: ['account-one-000001', 'account-two-000002'], max_concurrent_per_key: 1 }] })
    try {
      const ask = () => fetch(`${g.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) })
      const statuses = (await Promise.all([ask(), ask(), ask(), ask()])).map((r) => r.status).sort()
      expect(peak).toBe(1)
      expect(statuses).toEqual([200, 200, 429, 429])
      // Both accounts were given back: the next two are served at once.
      expect((await Promise.all([ask(), ask()])).map((r) => r.status)).toEqual([200, 200])
    } finally {
      await g.stop()
      service.stop(true)
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
