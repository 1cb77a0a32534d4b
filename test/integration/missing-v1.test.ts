import { afterAll, beforeAll, expect, test } from 'bun:test'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// The most common first mistake on either side: a base URL without /v1.
let mock: MockUpstream
let gw: TestGateway
beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    // The mock serves /v1/models; this provider's discovery asks for /models.
    providers: [{ name: 'nov1', type: 'openai', base_url: mock.url, keys: ['k-ok-1'] }],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

test('a client without /v1 is told to add it', async () => {
  const res = await fetch(`${gw.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [] }),
  })
  expect(res.status).toBe(404)
  expect(((await res.json()) as any).error.message).toContain('POST /v1/chat/completions; add /v1')
})

test('a provider base_url without /v1 is named in the discovery warning', async () => {
  await eventually(() => gw.logs.some((l) => l.includes('model discovery failed') && l.includes('does base_url need /v1')), 5000)
})
