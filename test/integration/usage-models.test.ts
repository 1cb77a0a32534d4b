import { afterAll, beforeAll, expect, test } from 'bun:test'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Usage per model is per model as served (the bare id, provider/id and an alias are one model),
// and a model without a price is shown as unpriced, not as free.
const ADMIN = 'admin-token-for-usage-model-tests-0123'
let mock: MockUpstream
let gw: TestGateway

beforeAll(async () => {
  mock = startMockUpstream(['priced-model', 'unpriced-model'])
  gw = await startGateway({
    admin: { token: ADMIN },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    prices: { 'priced-model': { prompt: 1, completion: 2 } },
    providers: [{ name: 'p', type: 'openai', base_url: mock.baseUrl, keys: ['k'], models: ['priced-model', 'unpriced-model'] }],
    aliases: [{ name: 'fast', targets: ['p/priced-model'] }],
  })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

const admin = (path: string) => fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.json() as any)

test('one model asked three ways is one usage row; an unpriced one says so', async () => {
  for (const model of ['priced-model', 'p/priced-model', 'fast', 'unpriced-model']) {
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })
    expect(res.status).toBe(200)
  }
  let rows: any[] = []
  await eventually(async () => (rows = (await admin('/admin/api/usage?group_by=model,provider')).data).reduce((n: number, r: any) => n + r.requests, 0) === 4)
  expect(rows.map((r) => [r.model, r.requests, r.priced]).sort()).toEqual([['priced-model', 3, true], ['unpriced-model', 1, false]])
  const log = (await admin('/admin/api/requests?limit=10')).data
  expect(log.find((r: any) => r.model === 'unpriced-model').priced).toBe(false)
  expect(log.find((r: any) => r.model === 'fast').priced).toBe(true)
})
