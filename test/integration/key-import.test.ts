import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { runCli } from '../../src/cli/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Keys users already hand out (from a proxy they are leaving) can be brought in as they are,
// through the admin API and the CLI, and are stored hashed like the others.
const ADMIN = 'admin-token-for-key-import-tests-0123456789'
const LEGACY = 'sk-legacy-proxy-key-1234567890abcdef'
let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream(['m'])
  gw = await startGateway({ admin: { token: ADMIN }, providers: [{ name: 'p', type: 'openai', base_url: mock.baseUrl, keys: ['k'], models: ['m'] }] })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

const admin = (path: string, body: object) =>
  fetch(`${gw.url}/admin/api${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
const models = (key: string) => fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)

describe('bringing existing client keys', () => {
  test('the admin API imports a key as it is: not echoed, usable at once, a second import of it is a 409', async () => {
    expect(await models(LEGACY)).toBe(401)
    const res = await admin('/keys', { name: 'legacy', key: LEGACY, rpm: 60 })
    expect(res.status).toBe(201)
    const body = (await res.json()) as any
    expect(body.imported).toBe(true)
    expect(JSON.stringify(body)).not.toContain(LEGACY)
    expect(await models(LEGACY)).toBe(200)
    const again = await admin('/keys', { name: 'legacy-2', key: LEGACY })
    expect(again.status).toBe(409)
  })

  test('a key too short to be safe is refused with the field named', async () => {
    const res = await admin('/keys', { name: 'short', key: 'sk-12345' })
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('key')
  })

  test('the CLI imports too, and never prints the key', async () => {
    const out: string[] = []
    const err: string[] = []
    const imported = 'sk-another-legacy-key-abcdefghijklmnop'
    const code = await runCli(['keys', 'create', '--name', 'from-cli', '--key', imported, '--db', `file:${join(gw.dir, 'test.db')}`], { write: (s: string) => out.push(s) }, { write: (s: string) => err.push(s) })
    expect(code).toBe(0)
    expect(out.join('')).toContain('imported key')
    expect(out.join('') + err.join('')).not.toContain(imported)
    // The running gateway picks up the new key from the database.
    const until = Date.now() + 5000
    while ((await models(imported)) !== 200 && Date.now() < until) await Bun.sleep(100)
    expect(await models(imported)).toBe(200)
    const short = await runCli(['keys', 'create', '--name', 'x', '--key', 'short', '--db', `file:${join(gw.dir, 'test.db')}`], { write: () => {} }, { write: (s: string) => err.push(s) })
    expect(short).toBe(2)
  })
})
