import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { loadConfig } from '../../src/config/load.ts'
import { startServer } from '../../src/server.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let dir: string

beforeAll(() => {
  mock = startMockUpstream()
  dir = mkdtempSync(join(tmpdir(), 'sluice-first-run-'))
})
afterAll(() => {
  mock.stop()
  rmSync(dir, { recursive: true, force: true })
})

const quiet = { logDestination: { write() {} }, pretty: false }

describe('zero-config first start', () => {
  test('OPENAI_API_KEY alone makes a working gateway; the first secrets are created once and stored hashed', async () => {
    const env = { OPENAI_API_KEY: 'sk-upstream-zero-config-1', OPENAI_BASE_URL: mock.baseUrl }
    const config = loadConfig({ port: '0' }, env, dir)
    expect(config.database.url).toBe(`file:${join(dir, 'sluice.db')}`)
    const first = await startServer({ ...config, database: { ...config.database, url: `file:${join(dir, 'sluice.db')}`, auth_token: null } }, quiet)
    const { adminToken, clientKey } = first.created
    expect(adminToken).toMatch(/^sluice-admin-[A-Za-z0-9]{40}$/)
    expect(clientKey).toMatch(/^sk-sluice-[A-Za-z0-9]{40}$/)

    const client = new OpenAI({ apiKey: clientKey!, baseURL: `${first.url}/v1`, maxRetries: 0 })
    const res = await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    expect(res.choices[0]!.message.content).toBe('Hello world')
    const health = (await (await fetch(`${first.url}/health`)).json()) as any
    expect(health).toMatchObject({ status: 'ok', database: { reachable: true } })
    expect(health.providers[0]).toMatchObject({ name: 'openai', keys: { total: 1, usable: 1 } })
    expect(await (await fetch(`${first.url}/healthz`)).json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${first.url}/readyz`)
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ok' }])
    await first.stop()

    const raw = readdirSync(dir).filter((f) => f.startsWith('sluice.db')).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('')
    expect(raw).not.toContain(adminToken!)
    expect(raw).not.toContain(clientKey!)
    expect(raw).toContain(new Bun.CryptoHasher('sha256').update(clientKey!).digest('hex'))

    const second = await startServer({ ...config, database: { ...config.database, url: `file:${join(dir, 'sluice.db')}`, auth_token: null } }, quiet)
    expect(second.created).toEqual({})
    const again = new OpenAI({ apiKey: clientKey!, baseURL: `${second.url}/v1`, maxRetries: 0 })
    await again.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    await second.stop()
  })

  test('auth.required: false serves without a client key and creates none', async () => {
    const config = loadConfig({ port: '0' }, { OPENAI_API_KEY: 'sk-u', OPENAI_BASE_URL: mock.baseUrl }, dir)
    const open = await startServer(
      { ...config, auth: { required: false, keys: [] }, database: { ...config.database, url: `file:${join(dir, 'open.db')}`, auth_token: null } },
      quiet,
    )
    expect(open.created.clientKey).toBeUndefined()
    const res = await fetch(`${open.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'mock-model', messages: [] }),
    })
    expect(res.status).toBe(200)
    await open.stop()
  })
})

test('start-up says which config file it loaded, or that none was', async () => {
  const { startGateway, basicConfig } = await import('../helpers/gateway.ts')
  const gw = await startGateway(basicConfig(mock.baseUrl))
  try {
    const listening = gw.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'sluice listening')
    expect(listening.config).toBe(gw.configPath)
  } finally {
    await gw.stop()
  }
  const lines: string[] = []
  const server = await startServer(loadConfig({ port: '0', db: `file:${join(dir, 'none.db')}` }, { OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: mock.baseUrl }, dir), {
    logDestination: { write: (l: string) => void lines.push(l) },
    pretty: false,
  })
  await server.stop()
  expect(lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'sluice listening').config).toBe('none (defaults and environment)')
})
