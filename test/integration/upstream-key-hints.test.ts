import { afterAll, beforeAll, expect, test } from 'bun:test'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Upstream keys can be told apart: the end of each key (as the providers' consoles show it) and a
// label from the config, never the key itself.
const KEY_A = 'sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaa1b2c'
const KEY_B = 'sk-proj-bbbbbbbbbbbbbbbbbbbbbbbbbbbb9z8y'
const ADMIN = 'admin-token-for-key-hint-tests-0123456789'
let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream(['m'])
  gw = await startGateway({
    admin: { token: ADMIN },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'p', type: 'openai', base_url: mock.baseUrl, models: ['m'], keys: [{ key: KEY_A, label: 'team account' }, KEY_B] }],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

test('the admin API shows each key by its last four characters and its label, never whole', async () => {
  const res = await fetch(`${gw.url}/admin/api/providers`, { headers: { authorization: `Bearer ${ADMIN}` } })
  const text = await res.text()
  expect(res.status).toBe(200)
  expect(text).not.toContain(KEY_A)
  expect(text).not.toContain(KEY_B)
  const keys = (JSON.parse(text) as any).data[0].keys_detail
  expect(keys.map((k: any) => [k.hint, k.label])).toEqual([['sk-...1b2c', 'team account'], ['sk-...9z8y', null]])
  expect(keys[0].fingerprint).toMatch(/^fp_[0-9a-f]{10}$/)
})

test('a disabled key is logged with its hint and label, not the key', async () => {
  mock.handler = () => Response.json({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } }, { status: 401 })
  try {
    await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })
  } finally {
    mock.handler = null
  }
  const lines = gw.logs.filter((l) => l.includes('upstream key disabled')).map((l) => JSON.parse(l))
  expect(lines.length).toBeGreaterThan(0)
  expect(lines[0].hint).toMatch(/^sk-\.\.\.(1b2c|9z8y)$/)
  expect(gw.logs.join('\n')).not.toContain(KEY_A)
  expect(gw.logs.join('\n')).not.toContain(KEY_B)
})
