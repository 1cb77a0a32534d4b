import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createClient } from '@libsql/client'

// server.workers: several processes of the compiled binary on one port and one database file.
const BINARY = resolve('dist/sluice')
const ADMIN = 'admin-token-for-workers-test-01'
const KEYS = { rpm: 'sk-workers-rpm-key-000000001', quota: 'sk-workers-quota-key-00000002', conc: 'sk-workers-conc-key-000000003' }

let dir: string
let upstream: ReturnType<typeof Bun.serve>
let inflight = 0
let peak = 0
let proc: ReturnType<typeof Bun.spawn>
let url = ''
let output = ''

/** One request on a connection of its own, so the kernel may give it to any worker. */
const ask = (key: string, model = 'm') =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })
const health = async () => (await (await fetch(`${url}/health`, { headers: { connection: 'close' } })).json()) as any

beforeAll(async () => {
  const build = Bun.spawnSync([process.execPath, 'scripts/build.ts'], { stdout: 'pipe', stderr: 'pipe' })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  upstream = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const body = (await req.json()) as any
      inflight++
      peak = Math.max(peak, inflight)
      // The concurrency key's model is slow, so its requests overlap.
      if (body.model === 'slow') await Bun.sleep(300)
      inflight--
      return Response.json({ id: 'c', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } })
    },
  })
  dir = mkdtempSync(join(tmpdir(), 'sluice-workers-'))
  const config = {
    log: { level: "warn" },
    admin: { token: ADMIN },
    auth: { keys: [
      { name: 'rpm', key: KEYS.rpm, rpm: 30 },
      { name: 'quota', key: KEYS.quota, quota: { period: 'day', requests: 25 } },
      { name: 'conc', key: KEYS.conc, max_concurrent: 4 },
    ] },
    providers: [{ name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.port}/v1`, keys: ['sk-upstream-00000000001'], models: ['m', 'slow'] }],
  }
  writeFileSync(join(dir, 'sluice.json'), JSON.stringify(config))
  // The README's form: --workers on the command line.
  proc = Bun.spawn([BINARY, '--config', join(dir, 'sluice.json'), '--workers', '3', '--port', '0', '--db', `file:${join(dir, 'sluice.db')}`], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdout: 'pipe', stderr: 'pipe' })
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) output += new TextDecoder().decode(chunk)
  })()
  const deadline = Date.now() + 20_000
  while (!/ready: (http:\/\/127\.0\.0\.1:\d+)/.test(output) && Date.now() < deadline) await Bun.sleep(20)
  url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? ''
  if (!url) throw new Error(`the workers did not start: ${output}`)
}, 60_000)
afterAll(() => {
  proc?.kill('SIGKILL')
  upstream?.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

describe('several workers on one machine', () => {
  test('connections are spread over the workers; the banner is printed once', async () => {
    const seen = new Set<number>()
    for (let i = 0; i < 40 && seen.size < 3; i++) seen.add((await health()).instance.worker)
    expect(seen.size).toBeGreaterThanOrEqual(2)
    expect(output.match(/sluice is ready/g)?.length).toBe(1)
  })

  test('limits hold across the workers: rpm, request quota and concurrency exactly', async () => {
    const rpm = await Promise.all(Array.from({ length: 100 }, () => ask(KEYS.rpm).then((r) => r.status)))
    expect(rpm.filter((s) => s === 200).length).toBe(30)
    expect(rpm.filter((s) => s === 429).length).toBe(70)
    const quota = await Promise.all(Array.from({ length: 60 }, () => ask(KEYS.quota).then((r) => r.status)))
    expect(quota.filter((s) => s === 200).length).toBe(25)
    peak = 0
    const conc = await Promise.all(Array.from({ length: 20 }, () => ask(KEYS.conc, 'slow').then((r) => r.status)))
    expect(peak).toBeLessThanOrEqual(4)
    expect(conc.filter((s) => s === 200).length).toBeGreaterThanOrEqual(4)
    expect(conc.filter((s) => s === 429).length).toBeGreaterThan(0)
  }, 30_000)

  test('usage is counted once in the database: 25 requests for the quota key', async () => {
    await Bun.sleep(1500)
    const db = createClient({ url: `file:${join(dir, 'sluice.db')}` })
    const rows = (await db.execute("SELECT sum(u.requests) AS n FROM client_key_usage u JOIN client_keys k ON k.id = u.key_id WHERE k.name = 'quota'")).rows
    db.close()
    expect(Number(rows[0]!.n)).toBe(25)
  })

  test('a worker that dies is started again; the others serve meanwhile', async () => {
    const victim = (await health()).instance
    const pid = Number(String(victim.id).split(':').pop())
    process.kill(pid, 'SIGKILL')
    // The others answer at once (a connection the kernel gave the dying worker in its last instant is lost).
    await Bun.sleep(100)
    expect((await ask(KEYS.conc)).status).toBe(200)
    const deadline = Date.now() + 10_000
    let back = false
    while (!back && Date.now() < deadline) {
      const h = await health().catch(() => null)
      back = h?.instance?.worker === victim.worker && h.instance.id !== victim.id
      if (!back) await Bun.sleep(50)
    }
    expect(back).toBe(true)
    expect(output).toContain('worker exited; starting it again')
  }, 20_000)

  test('SIGTERM stops every worker and the primary exits 0', async () => {
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const after = await fetch(`${url}/health`).then(() => 'answered', () => 'refused')
    expect(after).toBe('refused')
  }, 40_000)

  test('workers: 2 from an empty directory: one set of first-start secrets, printed once, accepted by both workers', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'sluice-workers-first-'))
    writeFileSync(join(fresh, 'sluice.json'), JSON.stringify({ server: { workers: 2 }, providers: [{ name: 'up', type: 'openai', base_url: `http://127.0.0.1:${upstream.port}/v1`, keys: ['sk-upstream-00000000001'], models: ['m'] }] }))
    const first = Bun.spawn([BINARY, '--config', join(fresh, 'sluice.json'), '--port', '0', '--db', `file:${join(fresh, 'sluice.db')}`], { cwd: fresh, env: { PATH: process.env.PATH ?? '', HOME: fresh }, stdout: 'pipe', stderr: 'pipe' })
    let text = ''
    void (async () => {
      for await (const chunk of first.stderr as ReadableStream<Uint8Array>) text += new TextDecoder().decode(chunk)
    })()
    try {
      const deadline = Date.now() + 20_000
      while (!/client key:.*\n[\s\S]*\n\n/.test(text) && Date.now() < deadline) await Bun.sleep(20)
      const base = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)![1]!
      const admin = /admin token:\s+(\S+)/.exec(text)![1]!
      const client = /client key:\s+(\S+)/.exec(text)![1]!
      expect(text.match(/admin token: /g)).toHaveLength(1)
      expect(text.match(/client key: /g)).toHaveLength(1)
      const workers = new Set<number>()
      for (let i = 0; i < 40 && workers.size < 2; i++) {
        const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${client}`, 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })
        expect(res.status).toBe(200)
        const keys = await fetch(`${base}/admin/api/keys`, { headers: { authorization: `Bearer ${admin}`, connection: 'close' } })
        expect(keys.status).toBe(200)
        workers.add(((await (await fetch(`${base}/health`, { headers: { connection: 'close' } })).json()) as any).instance.worker)
      }
      expect(workers.size).toBe(2)
    } finally {
      first.kill('SIGTERM')
      await first.exited
      rmSync(fresh, { recursive: true, force: true })
    }
  }, 40_000)
})
