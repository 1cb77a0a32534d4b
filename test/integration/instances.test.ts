import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { RedisClient, type Subprocess } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'

// Two sluice processes on one embedded database file and one redis-server this file starts on a
// free 127.0.0.1 port: each lists both in /admin/api/instances, a request to one shows in the
// live tail opened on the other (tagged with its instance), and /metrics stays each one's own.

const REDIS_SERVER = Bun.which('redis-server')
if (!REDIS_SERVER) console.log('instances: skipped, redis-server is not on PATH (Debian: apt-get install redis-server)')

const admin = { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` }

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const value = await check().catch(() => null)
    if (value) return value
    await Bun.sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

interface Listed {
  self: string
  data: Array<{ id: string; self: boolean; status: string; uptime_s: number; version: string; load: { inflight_requests: number; requests_per_minute: number } }>
}

describe.skipIf(!REDIS_SERVER)('instances sharing one database and one Redis', () => {
  let redis: Subprocess | null = null
  let mock: MockUpstream
  let dir: string
  let a: ProcessGateway
  let b: ProcessGateway
  const ids = new Map<ProcessGateway, string>()

  beforeAll(async () => {
    const port = await freePort()
    redis = Bun.spawn([REDIS_SERVER!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdout: 'ignore', stderr: 'ignore' })
    const url = `redis://127.0.0.1:${port}/0`
    await waitFor('redis-server to answer', async () => {
      const probe = new RedisClient(url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 })
      try {
        await probe.connect()
        return true
      } finally {
        probe.close()
      }
    })
    mock = startMockUpstream(['m'])
    dir = mkdtempSync(join(tmpdir(), 'sluice-instances-'))
    const config = processConfig(mock.baseUrl, { redis: { url, timeout_ms: 2_000 } })
    a = await startProcessGateway(config, { dir, configFile: 'a.json' })
    b = await startProcessGateway(config, { dir, configFile: 'b.json' })
    for (const gw of [a, b]) ids.set(gw, ((await (await fetch(`${gw.url}/health`)).json()) as { instance: { id: string } }).instance.id)
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    mock?.stop()
    redis?.kill('SIGKILL')
    await redis?.exited
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('each lists both, itself marked self, with uptime and load', async () => {
    expect(ids.get(a)).not.toBe(ids.get(b))
    for (const gw of [a, b]) {
      const listed = await waitFor('both instances listed', async () => {
        const body = (await (await fetch(`${gw.url}/admin/api/instances`, { headers: admin })).json()) as Listed
        return body.data.filter((i) => i.status === 'up').length >= 2 ? body : null
      })
      expect(listed.self).toBe(ids.get(gw)!)
      const mine = listed.data.find((i) => i.id === ids.get(gw))!
      const other = listed.data.find((i) => i.id === ids.get(gw === a ? b : a))!
      expect(mine.self).toBe(true)
      expect(other.self).toBe(false)
      for (const i of [mine, other]) {
        expect(i.uptime_s).toBeGreaterThanOrEqual(0)
        expect(typeof i.version).toBe('string')
        expect(typeof i.load.inflight_requests).toBe('number')
        expect(typeof i.load.requests_per_minute).toBe('number')
      }
    }
    expect((await fetch(`${a.url}/admin/api/instances`)).status).toBe(401)
  })

  test("a request to B shows in the live tail opened on A, tagged with B's id", async () => {
    const controller = new AbortController()
    const tail = await fetch(`${a.url}/admin/api/requests/live?fields=summary`, { headers: admin, signal: controller.signal })
    expect(tail.status).toBe(200)
    const reader = tail.body!.getReader()
    const decoder = new TextDecoder()
    const rows: Array<Record<string, unknown>> = []
    let buffer = ''
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
        if (done) return
        buffer += decoder.decode(value, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
          if (data) rows.push(JSON.parse(data))
        }
      }
    })()
    try {
      // B hears that A is watched within moments of the tail opening; requests until then stay local.
      const seen = await waitFor('a row from B on A', async () => {
        const r = await fetch(`${b.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'from b' }] }),
        })
        expect(r.status).toBe(200)
        await r.arrayBuffer()
        await Bun.sleep(100)
        return rows.find((row) => row.instance === ids.get(b))
      })
      expect(seen.model).toBe('m')
      expect(seen.requestBody).toBeUndefined()
      // A's own requests are tagged with its own id.
      const r = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'from a' }] }),
      })
      await r.arrayBuffer()
      await waitFor('a row from A on A', async () => rows.find((row) => row.instance === ids.get(a)))
    } finally {
      controller.abort()
      await reading
    }
  })

  test('/metrics of each names its own instance', async () => {
    for (const gw of [a, b]) {
      const text = await (await fetch(`${gw.url}/metrics`, { headers: admin })).text()
      const info = text.split('\n').filter((l) => l.startsWith('sluice_instance_info{'))
      expect(info).toHaveLength(1)
      expect(info[0]).toContain(`instance="${ids.get(gw)}"`)
      expect(info[0]).toMatch(/version="[^"]+"/)
      expect(info[0]).toEndWith(' 1')
      expect(text).toContain('sluice_build_info{')
    }
  })

  test('an instance that stops is listed as gone by the other', async () => {
    await b.stop()
    const listed = await waitFor('B gone on A', async () => {
      const body = (await (await fetch(`${a.url}/admin/api/instances`, { headers: admin })).json()) as Listed
      return body.data.find((i) => i.id === ids.get(b))?.status === 'gone' ? body : null
    })
    expect(listed.data.find((i) => i.id === ids.get(a))!.status).toBe('up')
  })
})
