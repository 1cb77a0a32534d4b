import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startOAuthService, startWebChat } from '../helpers/mock-adapter-services.ts'

// Flows, adapter modules and accounts, through the compiled binary: what a user runs.
const BINARY = resolve('dist/sluice')
const CLIENT = 'sk-adapters-binary-client-0001'
const ADMIN = 'admin-token-adapters-binary-01'
const WEB_TOKENS = { good: ['web-good-token-0001', 'web-good-token-0002'], limited: ['web-limited-token-03'] }
const WEB_DEAD = 'web-expired-token-004'

let dir: string
let web: ReturnType<typeof startWebChat>
let oauth: ReturnType<typeof startOAuthService>
let configPath: string

const flaky = `export default (sluice) => ({ apiVersion: 1, protocol: 'openai-chat', async handle(request, ctx) {
  if (request.model === 'throws') throw new Error('the adapter broke on purpose')
  if (request.model === 'hangs') await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
  return sluice.chat.completion({ model: request.model, text: 'steady' })
} })\n`

function config() {
  return {
    admin: { token: ADMIN },
    auth: { keys: [{ name: 'tester', key: CLIENT }] },
    logging: { bodies: 'all' },
    providers: [
      {
        name: 'webchat', type: 'flow', models: ['webchat-default'], allow_private: true,
        keys: [WEB_DEAD, ...WEB_TOKENS.limited, ...WEB_TOKENS.good],
        flow: {
          base_url: web.url,
          headers: { authorization: 'Bearer {credential}' },
          before: [{ name: 'conversation', url: '{base_url}/api/conversation', body: { model: '{model}' }, take: { conversation_id: 'id' }, cache: 'conversation' }],
          request: { url: '{base_url}/api/chat/{conversation_id}', headers: { referer: '{base_url}/chat/{conversation_id}' }, body: { prompt: '{last_user}', stream: true } },
          answer: { format: 'sse', text: 'message.content', text_mode: 'cumulative', finish: 'finish_reason' },
        },
      },
      { name: 'oauth', type: 'module', path: resolve('examples/adapters/device-code-oauth.ts'), options: { auth_url: oauth.url, api_url: oauth.url, client_id: 'sluice' }, allow_private: true, models: ['oauth-large'], keys: [] },
      { name: 'flaky', type: 'module', path: './flaky.ts', models: ['throws', 'hangs', 'steady'], keys: ['flaky-token-000000001'], timeouts: { first_byte_ms: 400 } },
    ],
  }
}

/** One run of the binary: a subcommand to its end, or the server until stopped. */
function spawn(args: string[]) {
  const proc = Bun.spawn([BINARY, ...args, '--config', configPath, '--db', `file:${join(dir, 'sluice.db')}`], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdout: 'pipe', stderr: 'pipe' })
  let output = ''
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += new TextDecoder().decode(chunk)
  }
  const done = Promise.all([pump(proc.stdout), pump(proc.stderr)])
  return { proc, output: () => output, done }
}

async function serve() {
  const run = spawn(['--port', '0'])
  const deadline = Date.now() + 15_000
  while (!/ready: (http:\/\/127\.0\.0\.1:\d+)/.test(run.output()) && Date.now() < deadline) {
    if (run.proc.exitCode !== null) throw new Error(`the binary exited: ${run.output()}`)
    await Bun.sleep(20)
  }
  const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(run.output())![1]!
  return { ...run, url, stop: async () => (run.proc.kill('SIGTERM'), await run.proc.exited, await run.done) }
}
type Served = Awaited<ReturnType<typeof serve>>

async function cli(args: string[], onLine?: (line: string) => void) {
  const run = spawn(args)
  if (onLine) {
    void (async () => {
      let seen = 0
      while (run.proc.exitCode === null) {
        const lines = run.output().split('\n')
        for (const line of lines.slice(seen, -1)) onLine(line)
        seen = Math.max(seen, lines.length - 1)
        await Bun.sleep(10)
      }
    })()
  }
  const code = await run.proc.exited
  await run.done
  return { code, output: run.output() }
}

const admin = async (g: Served, path: string, init: RequestInit = {}): Promise<any> => (await fetch(`${g.url}/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } })).json()
const openai = (g: Served) => new OpenAI({ apiKey: CLIENT, baseURL: `${g.url}/v1`, maxRetries: 0 })
const anthropic = (g: Served) => new Anthropic({ apiKey: CLIENT, baseURL: g.url, maxRetries: 0 })

beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, 'scripts/build.ts'], { stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  dir = mkdtempSync(join(tmpdir(), 'sluice-adapters-bin-'))
  web = startWebChat(WEB_TOKENS)
  oauth = startOAuthService()
  writeFileSync(join(dir, 'flaky.ts'), flaky)
  configPath = join(dir, 'sluice.json')
  writeFileSync(configPath, JSON.stringify(config()))
}, 120_000)
afterAll(() => {
  web?.stop()
  oauth?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('adapters from the compiled binary', () => {
  let g: Served
  let secrets: string[] = []

  test('accounts login through the binary: the device code printed, approved, the account stored', async () => {
    const login = await cli(['accounts', 'login', 'oauth', '--label', 'first'], (line) => {
      const code = /enter the code (\S+)/.exec(line)?.[1]
      if (code) void fetch(`${oauth.url}/approve?user_code=${code}`)
    })
    expect(login.code).toBe(0)
    expect(login.output).toMatch(/logged in: stored account acct_\w+ for oauth \(first\)/)
    g = await serve()
  }, 30_000)

  test('a flow and a module provider serve OpenAI, Anthropic and Responses clients, streamed and not, with usage recorded', async () => {
    for (const model of ['webchat-default', 'oauth-large']) {
      const chat = await openai(g).chat.completions.create({ model, messages: [{ role: 'user', content: `chat ${model}` }] })
      expect(chat.choices[0]!.message.content).toMatch(/Hello in conv-\d+|Hi from OAuth/)
      const chatStream = await openai(g).chat.completions.create({ model, messages: [{ role: 'user', content: `stream ${model}` }], stream: true })
      let streamed = ''
      for await (const c of chatStream) streamed += c.choices[0]?.delta.content ?? ''
      expect(streamed).toMatch(/Hello in conv-\d+|Hi from OAuth/)
      const message = await anthropic(g).messages.create({ model, max_tokens: 50, messages: [{ role: 'user', content: `anthropic ${model}` }] })
      expect((message.content[0] as { text: string }).text).toMatch(/Hello in conv-\d+|Hi from OAuth/)
      const events: string[] = []
      const s = anthropic(g).messages.stream({ model, max_tokens: 50, messages: [{ role: 'user', content: `anthropic stream ${model}` }] })
      s.on('text', (t) => events.push(t))
      await s.finalMessage()
      expect(events.join('')).toMatch(/Hello in conv-\d+|Hi from OAuth/)
      const response = await openai(g).responses.create({ model, input: `responses ${model}` })
      expect(response.output_text).toMatch(/Hello in conv-\d+|Hi from OAuth/)
      const rs = await openai(g).responses.create({ model, input: `responses stream ${model}`, stream: true })
      let deltas = ''
      for await (const e of rs) if (e.type === 'response.output_text.delta') deltas += e.delta
      expect(deltas).toMatch(/Hello in conv-\d+|Hi from OAuth/)
    }
    // Usage as the OAuth upstream reported it (4 in, 3 out), in the request log.
    await Bun.sleep(700)
    const { data } = await admin(g, '/requests?model=oauth-large&limit=20')
    expect(data.length).toBeGreaterThanOrEqual(6)
    expect(data.every((r: any) => r.promptTokens === 4 && r.completionTokens === 3)).toBe(true)
  }, 60_000)

  test('the dead token is disabled and the limited one cools down while the good ones serve; a conversation stays on its account', async () => {
    const { data } = await admin(g, '/providers')
    const keys = data.find((p: any) => p.name === 'webchat').keys_detail
    const stateOf = (hint: string) => keys.find((k: any) => k.hint.endsWith(hint.slice(-4)))?.state
    expect(stateOf(WEB_DEAD)).toBe('disabled')
    expect(stateOf(WEB_TOKENS.limited[0]!)).toBe('cooling')
    expect([stateOf(WEB_TOKENS.good[0]!), stateOf(WEB_TOKENS.good[1]!)]).toEqual(['usable', 'usable'])
    // Five turns of one conversation: every chat call on one account.
    const history: { role: 'user' | 'assistant'; content: string }[] = [{ role: 'user', content: 'A conversation about rivers' }]
    const before = web.calls.length
    for (let turn = 0; turn < 5; turn++) {
      const answer = await openai(g).chat.completions.create({ model: 'webchat-default', messages: history })
      history.push({ role: 'assistant', content: answer.choices[0]!.message.content! }, { role: 'user', content: `turn ${turn}` })
    }
    const chats = web.calls.slice(before).filter((c) => c.path.startsWith('/api/chat/'))
    expect(chats).toHaveLength(5)
    expect(new Set(chats.map((c) => c.auth)).size).toBe(1)
    expect(new Set(chats.map((c) => c.path)).size).toBe(1)
  }, 30_000)

  test('100 concurrent requests on a refused token: one refresh; the rotated token is used next time, also after a restart', async () => {
    oauth.state.access.clear()
    const calls = oauth.state.refreshCalls
    const answers = await Promise.all(Array.from({ length: 100 }, () => openai(g).chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] })))
    expect(answers.every((a) => a.choices[0]!.message.content === 'Hi from OAuth')).toBe(true)
    expect(oauth.state.refreshCalls - calls).toBe(1)
    await g.stop()
    g = await serve()
    // After the restart the upstream refuses the access token again: the refresh must use the rotated refresh token.
    oauth.state.access.clear()
    const again = await openai(g).chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'after restart' }] })
    expect(again.choices[0]!.message.content).toBe('Hi from OAuth')
    expect(oauth.state.refreshCalls - calls).toBe(2)
  }, 60_000)

  test('a module that throws or hangs fails that request only, bounded by the timeouts; the process keeps serving', async () => {
    const ask = (model: string) => fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) })
    const started = Date.now()
    const [thrown, hung, steady] = await Promise.all([ask('throws'), ask('hangs'), ask('steady')])
    expect(thrown.status).toBe(502)
    expect(((await thrown.json()) as any).error.message).toContain('the adapter broke on purpose')
    expect(hung.status).toBe(504)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(steady.status).toBe(200)
    expect((await ask('steady')).status).toBe(200)
  }, 30_000)

  test('no credential in the logs, the API answers, /metrics, the dashboard or the database files', async () => {
    secrets = [...WEB_TOKENS.good, ...WEB_TOKENS.limited, WEB_DEAD, ...oauth.state.refresh, ...oauth.state.access.keys()]
    expect(secrets.length).toBeGreaterThan(5)
    const surfaces = [
      JSON.stringify(await admin(g, '/providers')),
      JSON.stringify(await admin(g, '/accounts')),
      JSON.stringify(await admin(g, '/config')),
      JSON.stringify(await admin(g, '/requests?limit=200')),
      await (await fetch(`${g.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text(),
      await (await fetch(`${g.url}/health`)).text(),
      await (await fetch(`${g.url}/dashboard`)).text(),
    ]
    await g.stop()
    surfaces.push(g.output())
    for (const file of readdirSync(dir).filter((f) => f.startsWith('sluice.db'))) surfaces.push(readFileSync(join(dir, file)).toString('latin1'))
    for (const surface of surfaces) for (const secret of secrets) expect(surface.includes(secret)).toBe(false)
  }, 30_000)

  test('a module file with a syntax error is refused at start and on reload, with the file and line named', async () => {
    writeFileSync(join(dir, 'flaky.ts'), 'export default (sluice) => ({\n  apiVersion: 1,\n  protocol: "openai-chat"\n  handle() {}\n})\n')
    const start = await cli([])
    expect(start.code).toBe(1)
    expect(start.output).toMatch(/providers\[2\]\.path: .*flaky\.ts: the adapter does not load: .*flaky\.ts:4:\d+/)
    writeFileSync(join(dir, 'flaky.ts'), flaky)
    g = await serve()
    await Bun.sleep(20)
    writeFileSync(join(dir, 'flaky.ts'), 'export default (sluice) => ({ apiVersion: 1, protocol: "openai-chat", handle() { return } ')
    g.proc.kill('SIGHUP')
    const deadline = Date.now() + 5000
    while (!/config reload refused/.test(g.output()) && Date.now() < deadline) await Bun.sleep(20)
    expect(g.output()).toMatch(/flaky\.ts:1:\d+: Expected.*config reload refused/)
    // The last good adapter stays in force.
    expect((await openai(g).chat.completions.create({ model: 'steady', messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content).toBe('steady')
    await g.stop()
  }, 30_000)
})
