import { afterAll, beforeAll, expect, test } from 'bun:test'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let gw: TestGateway
beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway({
    log: { level: 'warn' },
    retry: { max_attempts: 1 },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'ok', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-1'], models: ['m'] },
      { name: 'broken', type: 'openai', base_url: mock.baseUrl, keys: ['k-500-1'], models: ['m'] },
    ],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

const chat = (model: string) =>
  fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  }).then((r) => r.status)

test('at --log-level warn a failed request is logged and a good one is not; times are ISO 8601', async () => {
  expect(await chat('ok/m')).toBe(200)
  expect(await chat('broken/m')).toBe(502)
  expect(await chat('nope/m')).toBe(404)
  const lines = gw.requestLogs()
  expect(lines.map((l) => [l.level, l.status])).toEqual([['warn', 502]])
  expect(lines[0].time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
})
