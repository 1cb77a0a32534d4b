import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Libsql from 'libsql'
import { join } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'

const LOCK_MS = 6000

/**
 * Another process holding the write lock: a child that runs `BEGIN IMMEDIATE`, says so on stdout,
 * and holds it for `ms` (the way a `sqlite3` shell holding a transaction does).
 */
async function holdWriteLock(path: string, ms: number) {
  const script = `
    import Libsql from 'libsql'
    const db = new Libsql(${JSON.stringify(path)})
    db.exec('BEGIN IMMEDIATE')
    console.log('locked')
    await Bun.sleep(${ms})
    db.exec('ROLLBACK')
    db.close()
  `
  const child = Bun.spawn([process.execPath, '--eval', script], { cwd: import.meta.dir, stdout: 'pipe', stderr: 'inherit' })
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader()
  const { value } = await reader.read()
  if (!new TextDecoder().decode(value).includes('locked')) throw new Error('the lock holder did not start')
  return child
}

function count(path: string, sql: string): number {
  const db = new Libsql(path, { readonly: true })
  try {
    return Number(Object.values(db.prepare(sql).get() as Record<string, unknown>)[0] ?? 0)
  } finally {
    db.close()
  }
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const began = performance.now()
  await run()
  return performance.now() - began
}

describe('a write lock held by another process', () => {
  let mock: MockUpstream
  let gw: ProcessGateway
  let dbPath: string
  const client = { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' }

  beforeAll(async () => {
    mock = startMockUpstream(['m'])
    gw = await startProcessGateway(
      processConfig(mock.baseUrl, {
        auth: { keys: [{ name: 'tester', key: PROCESS_CLIENT_KEY, quota: { period: 'day', requests: 1_000_000 } }] },
        // Room for every row sent during the lock: a full queue drops rows by design (tested elsewhere).
        logging: { queue_size: 1_000_000 },
      }),
    )
    dbPath = join(gw.dir, 'test.db')
  })
  afterAll(async () => {
    await gw?.stop()
    mock?.stop()
  })

  test(
    'stalls no request, stream or /health; admin writes answer 503 with the reason; every row and the usage arrive afterwards',
    async () => {
      const chat = (stream: boolean) =>
        fetch(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: client,
          body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }),
        }).then(async (r) => {
          expect(r.status).toBe(200)
          await r.text()
        })
      // Warm up: first requests, and the writer's own connection opened.
      for (let i = 0; i < 5; i++) await chat(false)
      const lock = await holdWriteLock(dbPath, LOCK_MS)
      const lockedAt = performance.now()

      // An admin write waits with sleeps (the loop below keeps running) and then says why it failed.
      const admin = fetch(`${gw.url}/admin/api/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'during-lock' }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: { code: string; message: string } } }))

      const worst = { chat: 0, stream: 0, health: 0 }
      let sent = 5
      let degraded: { status: string; database: { writable: boolean; error?: string } } | null = null
      while (performance.now() - lockedAt < LOCK_MS - 500) {
        worst.chat = Math.max(worst.chat, await timed(() => chat(false)))
        worst.stream = Math.max(worst.stream, await timed(() => chat(true)))
        sent += 2
        worst.health = Math.max(
          worst.health,
          await timed(async () => {
            const body = (await (await fetch(`${gw.url}/health`)).json()) as NonNullable<typeof degraded>
            if (body.status === 'degraded') degraded = body
          }),
        )
      }
      const refused = await admin
      await lock.exited

      // The busy timeout was 5 s: a write waiting inside SQLite held every request for that long.
      expect(worst.chat).toBeLessThan(500)
      expect(worst.stream).toBeLessThan(500)
      expect(worst.health).toBeLessThan(500)
      expect(sent).toBeGreaterThan(50)
      // A lock that lasts is reported, and the gateway kept serving meanwhile.
      expect(degraded).not.toBeNull()
      expect(degraded!.database.writable).toBe(false)
      expect(degraded!.database.error).toContain('SQLITE_BUSY')
      expect(refused.status).toBe(503)
      expect(refused.body.error.code).toBe('storage_unavailable')
      expect(refused.body.error.message).toContain('SQLITE_BUSY')

      // Released: everything queued is written, once.
      const deadline = Date.now() + 5000
      let rows = 0
      let usage = 0
      let touched = 0
      while (Date.now() < deadline) {
        rows = count(dbPath, 'SELECT count(*) FROM requests')
        usage = count(dbPath, "SELECT coalesce(sum(requests), 0) FROM client_key_usage WHERE key_id = 'cfg_tester'")
        // Last-use times are written in the same flush, just after the usage.
        touched = count(dbPath, "SELECT count(*) FROM client_keys WHERE id = 'cfg_tester' AND last_used_at IS NOT NULL")
        if (rows >= sent && usage >= sent && touched === 1) break
        await Bun.sleep(100)
      }
      expect(rows).toBe(sent)
      expect(usage).toBe(sent)
      expect(touched).toBe(1)
      // The connection that saw the lock is not left on an old snapshot: admin writes work again.
      const after = await fetch(`${gw.url}/admin/api/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'after-lock' }),
      })
      expect(after.ok).toBe(true)
      const health = (await (await fetch(`${gw.url}/health`)).json()) as { status: string; database: { writable: boolean } }
      expect(health).toMatchObject({ status: 'ok', database: { writable: true } })
    },
    30_000,
  )
})
