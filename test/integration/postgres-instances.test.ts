import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { startPostgres, withPostgres, type PgServer } from '../helpers/postgres.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'

// Two sluice processes on one PostgreSQL database (no Redis: allowed by the flag), in front of one
// mock upstream: what one does with keys, usage and the log, the other sees.

const run = withPostgres('postgres-instances')

describe.skipIf(!run)('two instances sharing PostgreSQL', () => {
  let pg: PgServer
  let mock: MockUpstream
  let url: string
  let sql: SQL
  let dir: string
  let a: ProcessGateway
  let b: ProcessGateway
  const admin = { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' }
  const chat = (gw: ProcessGateway, key = PROCESS_CLIENT_KEY) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    })

  beforeAll(async () => {
    pg = await startPostgres()
    url = await pg.createDatabase('instances')
    sql = new SQL({ url, max: 1 })
    mock = startMockUpstream(['m'])
    dir = mkdtempSync(join(tmpdir(), 'sluice-pg-instances-'))
    const config = processConfig(mock.baseUrl, {
      auth: { keys: [{ name: 'tester', key: PROCESS_CLIENT_KEY, quota: { period: 'day', requests: 1_000_000 } }] },
      database: { allow_unshared_limits: true },
    })
    // Started together: both migrate the empty database, one after the other under the lock.
    ;[a, b] = await Promise.all([
      startProcessGateway(config, { dir, configFile: 'a.json', db: url }),
      startProcessGateway(config, { dir, configFile: 'b.json', db: url }),
    ])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await sql?.close()
    mock?.stop()
    await pg?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('both start, say limits are not shared without redis, and never print the password', async () => {
    for (const gw of [a, b]) {
      // Log lines reach stdout a moment after the banner.
      for (let i = 0; i < 100 && !gw.output().includes('allow_unshared_limits'); i++) await Bun.sleep(20)
      const out = gw.output()
      expect(out).toContain('database.allow_unshared_limits')
      expect(out).toContain('"database":"postgres://postgres@127.0.0.1')
      expect(out).not.toContain(pg.password)
      expect(out).not.toContain(encodeURIComponent(pg.password))
    }
  })

  test('a client key created through one is usable on the other within a second', async () => {
    const created = await fetch(`${a.url}/admin/api/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'shared' }) })
    expect(created.status).toBe(201)
    const { key } = (await created.json()) as { key: string }
    const began = performance.now()
    let status = 0
    while (performance.now() - began < 3000) {
      status = (await chat(b, key)).status
      if (status === 200) break
      await Bun.sleep(20)
    }
    expect(status).toBe(200)
    expect(performance.now() - began).toBeLessThan(1000)
    // And revoked through the other, refused on the first.
    const listed = (await (await fetch(`${b.url}/admin/api/keys`, { headers: admin })).json()) as { data: { id: string; name: string }[] }
    const id = listed.data.find((k) => k.name === 'shared')!.id
    expect((await fetch(`${b.url}/admin/api/keys/${id}`, { method: 'DELETE', headers: admin })).ok).toBe(true)
    const revokedAt = performance.now()
    while (performance.now() - revokedAt < 3000 && (await chat(a, key)).status === 200) await Bun.sleep(20)
    expect((await chat(a, key)).status).toBe(401)
    expect(performance.now() - revokedAt).toBeLessThan(1000)
  })

  test('usage from both is counted once, and the request log of either shows both instances’ requests', async () => {
    const [before] = await sql.unsafe("SELECT coalesce(sum(requests), 0) AS n FROM client_key_usage WHERE key_id = 'cfg_tester'")
    const sent = await Promise.all(Array.from({ length: 80 }, (_, i) => chat(i % 2 ? a : b)))
    expect(sent.every((r) => r.status === 200)).toBe(true)
    const ids = sent.map((r) => r.headers.get('x-request-id')!)
    // Quota usage is saved every second, the log every half second.
    const deadline = Date.now() + 5000
    let usage = 0
    let logged: string[] = []
    while (Date.now() < deadline) {
      const [row] = await sql.unsafe("SELECT coalesce(sum(requests), 0) AS n FROM client_key_usage WHERE key_id = 'cfg_tester'")
      usage = Number(row.n) - Number(before.n)
      const page = (await (await fetch(`${a.url}/admin/api/requests?limit=500&fields=summary`, { headers: admin })).json()) as { data: { requestId: string }[] }
      logged = page.data.map((r) => r.requestId)
      if (usage >= 80 && ids.every((id) => logged.includes(id))) break
      await Bun.sleep(100)
    }
    expect(usage).toBe(80)
    expect(ids.filter((id) => !logged.includes(id))).toEqual([])
    const fromB = (await (await fetch(`${b.url}/admin/api/requests?limit=500&fields=summary`, { headers: admin })).json()) as { data: { requestId: string }[] }
    expect(ids.filter((id) => !fromB.data.some((r) => r.requestId === id))).toEqual([])
    // The rollups count each request once, whichever instance wrote it.
    const [daily] = await sql.unsafe("SELECT sum(requests) AS n FROM usage_daily WHERE key_id = 'cfg_tester'")
    const [raw] = await sql.unsafe("SELECT count(*) AS n FROM requests WHERE key_id = 'cfg_tester'")
    expect(Number(daily.n)).toBe(Number(raw.n))
  })

  test('/health on each says the shared database is reachable and writable', async () => {
    for (const gw of [a, b]) {
      const health = (await (await fetch(`${gw.url}/health`)).json()) as { database: { reachable: boolean; writable: boolean } }
      expect(health.database).toEqual({ reachable: true, writable: true })
    }
  })

  test('both stop cleanly, with nothing left unwritten', async () => {
    expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0])
    for (const gw of [a, b]) {
      expect(gw.output()).not.toContain('could not be written')
      expect(gw.output()).not.toContain('could not be saved')
    }
  })
})

describe('start-up on PostgreSQL refuses in one line', () => {
  let mock: MockUpstream
  beforeAll(() => {
    mock = startMockUpstream(['m'])
  })
  afterAll(() => mock?.stop())
  const refusal = async (config: object, db: string) => {
    const err = await startProcessGateway(config, { db }).then(
      async (gw) => {
        await gw.stop()
        return null
      },
      (e: Error) => e.message,
    )
    expect(err).not.toBeNull()
    return err!.split('\n').filter((l) => l.startsWith('sluice: ') || l.startsWith('  - '))
  }

  test('shared limits without redis, unless allowed; a server that cannot be reached; never the password', async () => {
    const unshared = await refusal(processConfig(mock.baseUrl), 'postgres://sluice:hunter2-secret@127.0.0.1:1/sluice')
    expect(unshared[1]).toStartWith('  - database.allow_unshared_limits: ')
    const unreachable = await refusal(processConfig(mock.baseUrl, { database: { allow_unshared_limits: true } }), 'postgres://sluice:hunter2-secret@127.0.0.1:1/sluice')
    expect(unreachable).toEqual(['sluice: cannot open the database postgres://sluice@127.0.0.1:1/sluice: ERR_POSTGRES_CONNECTION_REFUSED: Failed to connect'])
    const bad = await refusal(processConfig(mock.baseUrl, { database: { allow_unshared_limits: true } }), 'postgres://sluice:hunter2-secret@127.0.0.1:5432')
    expect(bad).toEqual(['sluice: database URL postgres://sluice@127.0.0.1:5432: expected a database name after the host (postgres://user:password@host:5432/database)'])
    expect([...unshared, ...unreachable, ...bad].join('\n')).not.toContain('hunter2')
  })
})
