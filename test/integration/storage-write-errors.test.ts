import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Libsql from 'libsql'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway } from '../helpers/process-gateway.ts'

const ENTRY = resolve(import.meta.dir, '../../src/main.ts')

/**
 * The gateway with a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored): once the database or its
 * WAL would grow past it, every write fails with SQLITE_IOERR_WRITE or SQLITE_FULL, as on a full
 * or failing disk, without needing a mount.
 */
async function startLimited(dir: string, limitKiB: number) {
  const proc = Bun.spawn(
    [
      'bash', '-c', `trap '' XFSZ; ulimit -f ${limitKiB}; exec "$@"`, 'sluice',
      process.execPath, '--max-http-header-size=262144', ENTRY, '--config', join(dir, 'sluice.json'),
      '--port', '0', '--host', '127.0.0.1', '--db', `file:${join(dir, 'test.db')}`,
    ],
    { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, SLUICE_ADMIN_TOKEN: PROCESS_ADMIN_TOKEN }, stdout: 'pipe', stderr: 'pipe' },
  )
  let text = ''
  const decoder = new TextDecoder()
  for (const s of [proc.stdout, proc.stderr]) void (async () => { for await (const c of s as ReadableStream<Uint8Array>) text += decoder.decode(c) })()
  const deadline = Date.now() + 20_000
  let url: string | undefined
  while (!url && Date.now() < deadline && proc.exitCode === null) {
    url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1]
    await Bun.sleep(20)
  }
  if (!url) {
    proc.kill('SIGKILL')
    throw new Error(`the gateway did not start:\n${text}`)
  }
  return { url, proc, output: () => text }
}

describe('a database that can no longer be written', () => {
  let mock: MockUpstream
  let dir: string
  beforeAll(() => {
    mock = startMockUpstream(['m'])
    dir = mkdtempSync(join(tmpdir(), 'sluice-full-'))
  })
  afterAll(() => {
    mock?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test(
    '/health says degraded with the SQLite error, the log names it, admin writes are 503, and rows lost at exit are counted',
    async () => {
      // A first start creates the database; the second runs with little room to grow.
      const first = await startProcessGateway(processConfig(mock.baseUrl), { dir })
      expect(await first.stop()).toBe(0)
      const dbPath = join(dir, 'test.db')
      const gw = await startLimited(dir, Math.ceil(statSync(dbPath).size / 1024) + 64)
      try {
        const chat = () =>
          fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] }),
          }).then((r) => r.status)
        let sent = 0
        type Health = { status: string; database: { reachable: boolean; writable: boolean; error?: string } }
        let health = null as Health | null
        const deadline = Date.now() + 15_000
        while (Date.now() < deadline) {
          const statuses = await Promise.all(Array.from({ length: 20 }, chat))
          // Requests keep being served while the writes fail.
          expect(statuses.every((s) => s === 200)).toBe(true)
          sent += statuses.length
          const res = await fetch(`${gw.url}/health`)
          expect(res.status).toBe(200)
          health = (await res.json()) as Health
          if (health.status === 'degraded') break
        }
        expect(health?.status).toBe('degraded')
        expect(health!.database).toMatchObject({ reachable: true, writable: false })
        expect(health!.database.error).toMatch(/^SQLITE_(IOERR|FULL)/)

        const admin = await fetch(`${gw.url}/admin/api/keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'no-room' }),
        })
        expect(admin.status).toBe(503)
        const refused = (await admin.json()) as { error: { code: string; message: string } }
        expect(refused.error.code).toBe('storage_unavailable')
        expect(refused.error.message).toMatch(/SQLITE_(IOERR|FULL)/)

        gw.proc.kill('SIGTERM')
        expect(await gw.proc.exited).toBe(0)
        const out = gw.output()
        expect(out).toMatch(/"code":"SQLITE_(IOERR|FULL)"/)
        expect(out).not.toContain('cannot rollback')
        const lostLine = out.split('\n').find((l) => l.includes('request log rows could not be written before exit'))
        expect(lostLine).toBeDefined()
        const lost = Number(JSON.parse(lostLine!).lost)
        expect(lost).toBeGreaterThan(0)
        // Every request is either in the database or counted as lost: none vanishes silently.
        const db = new Libsql(dbPath, { readonly: true })
        const stored = Number((db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n)
        db.close()
        expect(stored + lost).toBe(sent)
      } finally {
        if (gw.proc.exitCode === null) gw.proc.kill('SIGKILL')
      }
    },
    40_000,
  )
})
