import { afterAll, describe, expect, test } from 'bun:test'
import Libsql from 'libsql'
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ENTRY = resolve(import.meta.dir, '../../src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'sluice-startup-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** `sluice ARGS` from the temp directory, as a user would run it; bounded in time. */
async function sluice(...args: string[]): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
  const [stderr, code] = await Promise.all([new Response(proc.stderr as ReadableStream).text(), proc.exited])
  clearTimeout(timer)
  return { code, stderr }
}

/** Exit 1 and exactly one line on stderr that names the file and the problem; no stack. */
async function refusesToStart(db: string, file: string, problem: RegExp): Promise<void> {
  const { code, stderr } = await sluice('--db', db, '--port', '0', '--host', '127.0.0.1')
  const lines = stderr.split('\n').filter((l) => l.trim() !== '')
  expect({ code, lines: lines.length }).toEqual({ code: 1, lines: 1 })
  expect(lines[0]).toStartWith('sluice: ')
  expect(lines[0]).toContain(file)
  expect(lines[0]).toMatch(problem)
}

describe('a database that cannot be used at start', () => {
  test('a path without file: is refused, naming the fix; check says the same', async () => {
    await refusesToStart('./plain.db', 'file:./plain.db', /no scheme/)
    const check = await sluice('check', '--db', './plain.db')
    expect(check.code).toBe(1)
    expect(check.stderr.trim().split('\n')).toHaveLength(1)
    expect(check.stderr).toContain('write "file:./plain.db"')
  })

  test('a directory that does not exist, or a path under a regular file', async () => {
    await refusesToStart('file:/nonexistent/dir/x.db', '/nonexistent/dir/x.db', /does not exist/)
    const regular = join(dir, 'regular-file')
    writeFileSync(regular, 'not a directory')
    await refusesToStart(`file:${regular}/x.db`, `${regular}/x.db`, /is not a directory/)
    const check = await sluice('check', '--db', 'file:/nonexistent/dir/x.db')
    expect(check.code).toBe(1)
    expect(check.stderr).toContain('/nonexistent/dir does not exist')
  })

  test('a file that is not a database', async () => {
    const path = join(dir, 'random.db')
    writeFileSync(path, randomBytes(64 * 1024))
    await refusesToStart(`file:${path}`, path, /not a SQLite database \(SQLITE_NOTADB/)
  })

  test('a database whose pages are damaged is caught by PRAGMA quick_check', async () => {
    const path = join(dir, 'damaged.db')
    const db = new Libsql(path)
    db.exec('CREATE TABLE t (x BLOB)')
    db.exec('WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) INSERT INTO t SELECT randomblob(200) FROM c')
    db.exec('CREATE INDEX tx ON t (x)')
    db.close()
    // The header stays valid; a run of bytes in the middle of the b-trees does not.
    const fd = openSync(path, 'r+')
    writeSync(fd, Buffer.alloc(3000, 0xff), 0, 3000, 4096 * 50 + 100)
    closeSync(fd)
    await refusesToStart(`file:${path}`, path, /is damaged \(PRAGMA quick_check: /)
  })
})

describe('a port that is in use', () => {
  test('the second start says so and exits 1 at once instead of staying alive', async () => {
    const taken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    try {
      const began = Date.now()
      const { code, stderr } = await sluice('--db', `file:${join(dir, 'port.db')}`, '--port', String(taken.port), '--host', '127.0.0.1')
      expect(code).toBe(1)
      expect(stderr).toContain(`cannot listen on 127.0.0.1:${taken.port}`)
      // Before, the database and the timers kept it running until the test's kill at 15 s.
      expect(Date.now() - began).toBeLessThan(10_000)
    } finally {
      taken.stop(true)
    }
  }, 20_000)
})

describe('first-start secrets', () => {
  test('a start that cannot listen stores none; the next good start creates and shows them', async () => {
    const db = join(dir, 'secrets.db')
    const taken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    try {
      const failed = await sluice('--db', `file:${db}`, '--port', String(taken.port), '--host', '127.0.0.1')
      expect(failed.code).toBe(1)
      expect(failed.stderr).not.toContain('admin token:')
    } finally {
      taken.stop(true)
    }
    const stored = new Libsql(db, { readonly: true })
    try {
      expect(stored.prepare("SELECT count(*) AS n FROM settings WHERE key = 'admin_token_sha256'").get()).toMatchObject({ n: 0 })
      expect(stored.prepare('SELECT count(*) AS n FROM client_keys').get()).toMatchObject({ n: 0 })
    } finally {
      stored.close()
    }
    // The next start that listens creates both and prints them.
    const proc = Bun.spawn([process.execPath, ENTRY, '--db', `file:${db}`, '--port', '0', '--host', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, OPENAI_API_KEY: 'sk-upstream-x' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    let text = ''
    const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader()
    const deadline = Date.now() + 15_000
    while (!/client key:\s+\S+/.test(text) && Date.now() < deadline) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    proc.kill('SIGTERM')
    await proc.exited
    expect(text).toMatch(/admin token:\s+sluice-admin-/)
    expect(text).toMatch(/client key:\s+sk-sluice-/)
    // The banner says how to replace a lost admin token, and that way works.
    expect(text).toContain('SLUICE_ADMIN_TOKEN=')
    const lost = /admin token:\s+(\S+)/.exec(text)![1]!
    const again = Bun.spawn([process.execPath, ENTRY, '--db', `file:${db}`, '--port', '0', '--host', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, OPENAI_API_KEY: 'sk-upstream-x', SLUICE_ADMIN_TOKEN: 'a-new-admin-token-0123456789' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    let banner = ''
    const r2 = (again.stderr as ReadableStream<Uint8Array>).getReader()
    while (!/ready: http/.test(banner) && Date.now() < deadline + 15_000) {
      const { done, value } = await r2.read()
      if (done) break
      banner += new TextDecoder().decode(value)
    }
    try {
      const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)![1]
      const keys = (token: string) => fetch(`${url}/admin/api/keys`, { headers: { authorization: `Bearer ${token}` } }).then((res) => res.status)
      expect(await keys('a-new-admin-token-0123456789')).toBe(200)
      expect(await keys(lost)).toBe(401)
    } finally {
      again.kill('SIGTERM')
      await again.exited
    }
  }, 40_000)
})

describe('a provider that is the gateway itself', () => {
  test('OPENAI_BASE_URL pointing at sluice\'s own address stops start-up naming the field', async () => {
    const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') })
    const port = probe.port!
    probe.stop(true)
    const proc = Bun.spawn([process.execPath, ENTRY, '--db', `file:${join(dir, 'loop.db')}`, '--port', String(port), '--host', '127.0.0.1'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, OPENAI_API_KEY: 'sk-sluice-looks-like-ours', OPENAI_BASE_URL: `http://localhost:${port}/v1` },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    const [stderr, code] = await Promise.all([new Response(proc.stderr as ReadableStream).text(), proc.exited])
    clearTimeout(timer)
    expect(code).toBe(1)
    expect(stderr).toContain('providers[0].base_url')
    expect(stderr).toContain('is this gateway itself')
    expect(stderr).not.toContain('admin token:')
  }, 20_000)
})
