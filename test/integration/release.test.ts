// `npm run release` for one foreign target, linux-arm64, whose binary is then run under qemu's
// user-mode emulation: the point is that the embedded libSQL addon is arm64's and loads there
// (the server opens its database on start and /health queries it).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const VERSION: string = JSON.parse(readFileSync('package.json', 'utf8')).version
const FILE = `sluice-${VERSION}-linux-arm64`
const CLIENT_KEY = 'sk-release-test-client'

// An arm64 Linux machine runs the binary itself; any other needs qemu-aarch64-static and an arm64
// glibc for it to load the binary with (Debian: libc6-arm64-cross, in /usr/aarch64-linux-gnu).
const native = process.platform === 'linux' && process.arch === 'arm64'
const qemu = Bun.which('qemu-aarch64-static')
const sysroot = ['/usr/aarch64-linux-gnu', '/'].find((root) => existsSync(join(root, 'lib', 'ld-linux-aarch64.so.1')))
const missing = native ? null : !qemu ? 'qemu-aarch64-static is not installed' : !sysroot ? 'no arm64 glibc for qemu (no /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1)' : null
// Outside CI, SLUICE_SKIP_QEMU=1 skips this on a machine without qemu; CI must run it.
const skip = missing !== null && process.env.SLUICE_SKIP_QEMU === '1' && process.env.CI === undefined
if (skip) console.warn(`release test skipped (SLUICE_SKIP_QEMU=1): ${missing}`)

let outdir: string
let dir: string
let mock: MockUpstream
let releaseSeconds = 0

describe.skipIf(skip)('npm run release, linux-arm64 under qemu', () => {
  beforeAll(() => {
    if (missing) {
      throw new Error(
        `${missing}: the release test runs the linux-arm64 binary under emulation. ` +
          'Install it with `apt-get install -y qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross` ' +
          '(outside CI, SLUICE_SKIP_QEMU=1 skips this test).',
      )
    }
    outdir = mkdtempSync(join(tmpdir(), 'sluice-release-'))
    dir = mkdtempSync(join(tmpdir(), 'sluice-release-run-'))
    const started = performance.now()
    const release = Bun.spawnSync([process.execPath, 'scripts/release.ts', '--outdir', outdir], {
      env: { ...process.env, SLUICE_RELEASE_TARGETS: 'linux-arm64' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    releaseSeconds = (performance.now() - started) / 1000
    if (release.exitCode !== 0) throw new Error(`release failed:\n${release.stdout.toString()}\n${release.stderr.toString()}`)
    mock = startMockUpstream()
  }, 300_000)
  afterAll(() => {
    mock?.stop()
    // Each binary is over 100 MB: do not leave them in the temporary directory.
    if (outdir) rmSync(outdir, { recursive: true, force: true })
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('writes only the chosen target, an arm64 executable, and SHA256SUMS that match it', async () => {
    expect(readdirSync(outdir).sort()).toEqual(['SHA256SUMS', FILE])
    const bytes = new Uint8Array(await Bun.file(join(outdir, FILE)).arrayBuffer())
    // ELF, 64-bit, little-endian, e_machine 183 (AArch64).
    expect([...bytes.subarray(0, 6)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1])
    expect(bytes[18]! | (bytes[19]! << 8)).toBe(183)
    const sums = readFileSync(join(outdir, 'SHA256SUMS'), 'utf8')
    const digest = new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
    expect(sums).toBe(`${digest}  ${FILE}\n`)
    // The format of sha256sum, so `sha256sum -c SHA256SUMS` verifies a download.
    if (Bun.which('sha256sum')) {
      const check = Bun.spawnSync(['sha256sum', '--check', '--strict', 'SHA256SUMS'], { cwd: outdir, stdout: 'pipe', stderr: 'pipe' })
      expect(check.stdout.toString()).toBe(`${FILE}: OK\n`)
      expect(check.exitCode).toBe(0)
    }
    console.log(`release for linux-arm64 took ${releaseSeconds.toFixed(1)} s`)
  })

  test('the arm64 binary starts under emulation, answers /health from its database and proxies a chat request', async () => {
    const config = join(dir, 'sluice.yaml')
    await Bun.write(
      config,
      [
        'admin: { token: release-admin-token-0123456789 }',
        `auth: { keys: [{ name: t, key: ${CLIENT_KEY} }] }`,
        `providers: [{ name: mock, type: openai, base_url: "${mock.baseUrl}", keys: [sk-upstream-release], models: [mock-model] }]`,
        '',
      ].join('\n'),
    )
    const binary = resolve(outdir, FILE)
    const argv = [binary, 'serve', '--config', config, '--port', '0', '--db', `file:${join(dir, 'sluice.db')}`]
    const proc = Bun.spawn(native ? argv : [qemu!, '-L', sysroot!, ...argv], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    let log = ''
    try {
      const reader = proc.stderr.getReader()
      const deadline = Date.now() + 60_000
      while (!/ready: .*\n/.test(log) && Date.now() < deadline) {
        const { done, value } = await reader.read()
        if (done) break
        log += new TextDecoder().decode(value)
      }
      reader.releaseLock()
      const url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(log)?.[1]
      if (!url) throw new Error(`no ready line from the emulated binary (exit ${proc.exitCode}):\n${log}`)
      expect(existsSync(join(dir, 'sluice.db'))).toBe(true)

      const health = await fetch(`${url}/health`)
      const report = (await health.json()) as { status: string }
      expect(health.status).toBe(200)
      expect(report.status).toBe('ok')

      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] }),
      })
      const body = (await res.json()) as any
      expect(res.status).toBe(200)
      expect(body.choices[0].message.content).toBe('Hello world')
      expect(mock.requests.at(-1)?.headers.authorization).toBe('Bearer sk-upstream-release')

      // The request is recorded in the database, through the emulated addon.
      let requests = 0
      for (const until = Date.now() + 15_000; requests < 1 && Date.now() < until; await Bun.sleep(200)) {
        const overview = await fetch(`${url}/admin/api/overview?window=1h`, { headers: { authorization: 'Bearer release-admin-token-0123456789' } })
        requests = ((await overview.json()) as any).requests
      }
      expect(requests).toBe(1)

      proc.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
    } finally {
      proc.kill('SIGKILL')
    }
  }, 120_000)
})
