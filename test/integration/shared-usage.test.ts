import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLIENT_KEY, startGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { openDatabase } from '../../src/storage/database.ts'
import { createUsageStore } from '../../src/storage/usage-store.ts'

// Two gateways on one database: each saves what it used as an increment, so the database holds
// the sum (absolute values written back made the last writer win: 30 + 30 requests were 30).
let mock: MockUpstream
let dir: string
beforeAll(() => {
  mock = startMockUpstream(['m'])
  dir = mkdtempSync(join(tmpdir(), 'sluice-shared-usage-'))
})
afterAll(() => {
  mock.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('two instances admitting 30 requests each record 60', async () => {
  const config = {
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY, quota: { period: 'day', requests: 1000 } }] },
    providers: [{ name: 'p', type: 'openai', base_url: mock.baseUrl, keys: ['k'], models: ['m'] }],
  }
  const a = await startGateway(config, {}, { dir })
  const b = await startGateway(config, {}, { dir })
  const send = (gw: typeof a) =>
    fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.status)
  const statuses = await Promise.all([...Array.from({ length: 30 }, () => send(a)), ...Array.from({ length: 30 }, () => send(b))])
  expect(statuses.every((s) => s === 200)).toBe(true)
  await a.stop()
  await b.stop()
  const database = await openDatabase(`file:${join(dir, 'test.db')}`, null)
  try {
    const rows = await createUsageStore(database.db).since(0)
    expect(rows.reduce((n, r) => n + r.usage.requests, 0)).toBe(60)
  } finally {
    database.close()
  }
})
