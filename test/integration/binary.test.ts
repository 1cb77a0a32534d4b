import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { chunk, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const BINARY = resolve('dist/sluice')
let mock: MockUpstream
let dir: string

beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, 'scripts/build.ts'], { stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  mock = startMockUpstream()
  dir = mkdtempSync(join(tmpdir(), 'sluice-binary-'))
}, 120_000)
afterAll(() => {
  mock?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Reads stderr until the ready banner has been printed in full. */
async function readBanner(stream: ReadableStream<Uint8Array>, until = /client key:.*\n[\s\S]*\n\n$/): Promise<string> {
  const reader = stream.getReader()
  let text = ''
  const deadline = Date.now() + 15_000
  while (!until.test(text) && Date.now() < deadline) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  return text
}

describe('the compiled binary', () => {
  test('runs from an empty directory with no node_modules, proxies, and drains a stream on SIGTERM', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: dir, OPENAI_API_KEY: 'sk-upstream-binary-1', OPENAI_BASE_URL: mock.baseUrl, SLUICE_PORT: '0' }
    const proc = Bun.spawn([BINARY], { cwd: dir, env, stdout: 'pipe', stderr: 'pipe' })
    try {
      const banner = await readBanner(proc.stderr)
      const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1]
      const key = /client key:\s+(\S+)/.exec(banner)?.[1]
      expect(url).toBeDefined()
      expect(key).toMatch(/^sk-sluice-/)
      expect(existsSync(join(dir, 'sluice.db'))).toBe(true)

      // A 64 KiB header gets the API's 401, not a bare 431 from the HTTP layer.
      const hostile = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${'x'.repeat(64 * 1024)}` } })
      expect(hostile.status).toBe(401)
      expect(((await hostile.json()) as any).error.code).toBe('invalid_api_key')

      const client = new OpenAI({ apiKey: key!, baseURL: `${url}/v1`, maxRetries: 0 })
      const res = await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
      expect(res.choices[0]!.message.content).toBe('Hello world')
      // The Anthropic API, translated, and the embedded dashboard are in the binary too.
      const claude = new Anthropic({ apiKey: key!, baseURL: url, maxRetries: 0 })
      const msg = await claude.messages.create({ model: 'mock-model', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Hello world' })
      const dashboard = await fetch(`${url}/dashboard`)
      expect(dashboard.status).toBe(200)
      expect(await dashboard.text()).toContain('<title>sluice</title>')

      // A slow stream is in flight when SIGTERM arrives: it must finish, then the process exits 0.
      const words = Array.from({ length: 8 }, (_, i) => `w${i} `)
      mock.handler = () =>
        new Response(sse([...words.map((w) => chunk({ content: w })), chunk({}, 'stop'), '[DONE]'], 60), {
          headers: { 'content-type': 'text/event-stream' },
        })
      const stream = await client.chat.completions.create({ model: 'mock-model', messages: [], stream: true })
      let text = ''
      let signalled = false
      for await (const c of stream) {
        text += c.choices[0]?.delta?.content ?? ''
        if (!signalled) {
          signalled = true
          proc.kill('SIGTERM')
          await Bun.sleep(50)
          // Draining: no new connections are accepted.
          expect(fetch(`${url}/health`)).rejects.toThrow()
        }
      }
      expect(text).toBe(words.join(''))
      expect(await proc.exited).toBe(0)
    } finally {
      proc.kill('SIGKILL')
    }
  }, 60_000)

  test('SIGHUP reloads the config file; an invalid one is refused and the server keeps going', async () => {
    const path = join(dir, 'reload.yaml')
    const write = (models: string) =>
      Bun.write(
        path,
        `auth: { keys: [{ name: t, key: sk-binary-client-key }] }\nproviders: [{ name: p, type: openai, base_url: "${mock.baseUrl}", keys: [k], models: [${models}] }]\n`,
      )
    await write('first-model')
    const proc = Bun.spawn([BINARY, '--config', path, '--port', '0', '--db', `file:${join(dir, 'reload.db')}`], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    try {
      const banner = await readBanner(proc.stderr, /ready: .*\n/)
      const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1]
      const ids = async () => {
        const res = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sk-binary-client-key' } })
        return ((await res.json()) as any).data.map((m: any) => m.id) as string[]
      }
      expect(await ids()).toContain('first-model')
      await write('second-model')
      proc.kill('SIGHUP')
      const until = Date.now() + 5000
      while (!(await ids()).includes('second-model') && Date.now() < until) await Bun.sleep(50)
      expect(await ids()).toContain('second-model')
      await Bun.write(path, 'providers: [{ name: p, type: nonsense, keys: [k] }]\n')
      proc.kill('SIGHUP')
      await Bun.sleep(300)
      expect(await ids()).toContain('second-model')
      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    } finally {
      proc.kill('SIGKILL')
    }
  }, 30_000)

  test('a type: module provider: the binary loads the example adapter file at run time, and a changed file on SIGHUP', async () => {
    // An NDJSON service for the example adapter, and a second adapter file to change.
    const service = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => new Response('{"type":"text","text":"from the binary"}\n{"type":"done","reason":"end","usage":{"input":2,"output":3}}\n'),
    })
    const echo = join(dir, 'echo.ts')
    const echoSource = (word: string) => `export default (sluice) => ({ apiVersion: 1, protocol: 'openai-chat', async handle(request) { return sluice.chat.completion({ model: request.model, text: '${word}' }) } })\n`
    await Bun.write(echo, echoSource('before'))
    const path = join(dir, 'module.yaml')
    await Bun.write(path, [
      'auth: { keys: [{ name: t, key: sk-binary-client-key }] }',
      'providers:',
      `  - { name: nd, type: module, path: "${resolve('examples/adapters/ndjson-chat.ts')}", options: { base_url: "http://127.0.0.1:${service.port}" }, allow_private: true, models: [nd], keys: [token-0000000001] }`,
      '  - { name: echo, type: module, path: ./echo.ts, models: [echo], keys: [token-0000000002] }',
      '',
    ].join('\n'))
    const proc = Bun.spawn([BINARY, '--config', path, '--port', '0', '--db', `file:${join(dir, 'module.db')}`], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdout: 'pipe', stderr: 'pipe' })
    try {
      const banner = await readBanner(proc.stderr, /ready: .*\n/)
      const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1]
      const ask = async (model: string) => (await new OpenAI({ apiKey: 'sk-binary-client-key', baseURL: `${url}/v1`, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content
      expect(await ask('nd')).toBe('from the binary')
      expect(await ask('echo')).toBe('before')
      await Bun.sleep(20)
      await Bun.write(echo, echoSource('after'))
      proc.kill('SIGHUP')
      const until = Date.now() + 5000
      while ((await ask('echo')) !== 'after' && Date.now() < until) await Bun.sleep(50)
      expect(await ask('echo')).toBe('after')
    } finally {
      proc.kill('SIGKILL')
      service.stop(true)
    }
  }, 30_000)

  test('no completed request is lost when the server is stopped right after a burst', async () => {
    const path = join(dir, 'burst.yaml')
    const db = `file:${join(dir, 'burst.db')}`
    await Bun.write(
      path,
      `admin: { token: burst-admin-token-0123456789 }\nauth: { keys: [{ name: t, key: sk-burst-client-0123456789 }] }\nproviders: [{ name: p, type: openai, base_url: "${mock.baseUrl}", keys: [k], models: [m] }]\n`,
    )
    mock.handler = null
    const start = async () => {
      const proc = Bun.spawn([BINARY, '--config', path, '--port', '0', '--db', db], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdout: 'pipe', stderr: 'pipe' })
      const banner = await readBanner(proc.stderr, /ready: .*\n/)
      return { proc, url: /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1]! }
    }
    const first = await start()
    try {
      const burst = 300
      const statuses = await Promise.all(
        Array.from({ length: burst }, () =>
          fetch(`${first.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: 'Bearer sk-burst-client-0123456789' },
            body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
          }).then((r) => r.status),
        ),
      )
      expect(statuses.every((s) => s === 200)).toBe(true)
      first.proc.kill('SIGTERM')
      expect(await first.proc.exited).toBe(0)
    } finally {
      first.proc.kill('SIGKILL')
    }
    const second = await start()
    try {
      const overview: any = await (await fetch(`${second.url}/admin/api/overview?window=1h`, { headers: { authorization: 'Bearer burst-admin-token-0123456789' } })).json()
      expect(overview.requests).toBe(300)
    } finally {
      second.proc.kill('SIGKILL')
    }
  }, 60_000)

  test('check exits 1 and names the field for a bad config file', () => {
    const path = join(dir, 'bad.yaml')
    Bun.write(path, 'server: { prot: 1 }\n')
    const out = Bun.spawnSync([BINARY, 'check', '--config', path], { cwd: dir, stderr: 'pipe' })
    expect(out.exitCode).toBe(1)
    expect(out.stderr.toString()).toContain('server.prot: unknown field')
  })
})
