import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const UPSTREAM_KEY = 'sk-upstream-never-show-me-123456'
const CLIENT_KEY = 'sk-client-never-show-me-654321'
const ADMIN_TOKEN = 'admin-token-never-show-me-999'

let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway({
    log: { level: 'trace' },
    admin: { token: ADMIN_TOKEN },
    auth: { keys: [{ name: 'friend', key: CLIENT_KEY }] },
    providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: [UPSTREAM_KEY] }],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

describe('secrets never leak', () => {
  test('not in logs, responses or /health, whatever path the requests take', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const bodies: string[] = []
    await client.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    for await (const _ of await client.chat.completions.create({ model: 'mock-model', messages: [], stream: true }));
    // An upstream that echoes the key it was given, in the message and in a header.
    mock.handler = (req) =>
      Response.json({ error: { message: `bad key ${req.headers.get('authorization')}` } }, { status: 401 })
    const failed = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ model: 'mock-model', messages: [] }),
    })
    bodies.push(await failed.text())
    mock.handler = (req) => Response.json({ error: { message: `bad request for ${req.headers.get('authorization')}` } }, { status: 400 })
    const rejected = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'mock-model', messages: [] }),
    })
    bodies.push(await rejected.text())
    mock.handler = null
    const wrong = await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    bodies.push(await wrong.text())
    bodies.push(await (await fetch(`${gw.url}/health`)).text())

    await eventually(() => gw.requestLogs().length >= 5)
    const everything = [...gw.logs, ...bodies].join('\n')
    for (const secret of [UPSTREAM_KEY, CLIENT_KEY, ADMIN_TOKEN]) expect(everything).not.toContain(secret)
    // The upstream really did receive its key: the redaction above is not an accident of the mock.
    expect(mock.requests.some((r) => r.headers.authorization === `Bearer ${UPSTREAM_KEY}`)).toBe(true)
  })

  test('the database holds no secret in plaintext', async () => {
    await gw.server.stop()
    const files = readdirSync(gw.dir).filter((f) => f.startsWith('test.db'))
    const raw = files.map((f) => readFileSync(join(gw.dir, f)).toString('latin1')).join('')
    for (const secret of [UPSTREAM_KEY, CLIENT_KEY, ADMIN_TOKEN]) expect(raw).not.toContain(secret)
  })
})
