import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../../src/cli/index.ts'
import { parseConfigText } from '../../src/config/load.ts'
import { VERSION } from '../../src/version.ts'

function capture() {
  const out: string[] = []
  return { stream: { write: (s: string) => out.push(s) }, text: () => out.join('') }
}

async function run(...argv: string[]) {
  const out = capture()
  const err = capture()
  const code = await runCli(argv, out.stream, err.stream)
  return { code, out: out.text(), err: err.text() }
}

describe('the command line', () => {
  test('--version and --help', async () => {
    expect(await run('--version')).toMatchObject({ code: 0, out: `sluice ${VERSION}\n` })
    const help = await run('--help')
    expect(help.code).toBe(0)
    for (const word of ['serve', 'check', 'init', '--config', '--host', '--port', '--db', '--log-level', 'SLUICE_ADMIN_TOKEN']) {
      expect(help.out).toContain(word)
    }
  })

  test('an unknown command or flag is a usage error (exit 2)', async () => {
    expect((await run('frobnicate')).code).toBe(2)
    expect((await run('--colour')).code).toBe(2)
  })

  test('check: exit 0 for a valid file, 1 with the field named for an invalid one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'))
    const good = join(dir, 'good.yaml')
    writeFileSync(good, 'providers: [{ name: p, type: openai, base_url: "http://127.0.0.1:9/v1", keys: [k] }]\n')
    const ok = await run('check', '--config', good)
    expect(ok.code).toBe(0)
    expect(ok.out).toContain('valid (1 provider(s): p)')
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'server: { port: 99999 }\nproviders: [{ name: p, type: openai, keys: [k], extra: 1 }]\n')
    const failed = await run('check', '--config', bad)
    expect(failed.code).toBe(1)
    expect(failed.err).toContain('server.port: expected integer to be less or equal to 65535')
    expect(failed.err).toContain('providers[0].extra: unknown field')
    expect((await run('check', '--config', join(dir, 'missing.yaml'))).err).toContain('cannot read the file')
  })

  test('init writes a commented starter config that validates, and never overwrites by accident', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-init-'))
    const path = join(dir, 'sluice.yaml')
    expect((await run('init', '--config', path)).code).toBe(0)
    const text = readFileSync(path, 'utf8')
    expect(text).toContain('# ')
    expect(() => parseConfigText(text, path, { OPENAI_API_KEY: 'sk-x' })).not.toThrow()
    // The written file keeps following OPENAI_BASE_URL, as the start without a file did.
    expect(parseConfigText(text, path, { OPENAI_API_KEY: 'sk-x', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).providers![0]!.base_url).toBe('http://127.0.0.1:9/v1')
    expect(parseConfigText(text, path, { OPENAI_API_KEY: 'sk-x' }).providers![0]!.base_url).toBe('https://api.openai.com/v1')
    // Every commented example, uncommented, is valid too.
    const uncommented = text
      .split('\n')
      .map((line) => {
        const m = /^(\s*)# ?((?:[a-z_]+:|- name:| {2}| {4}).*)$/.exec(line)
        return m && !/^[A-Z]/.test(m[2]!.trim()) ? m[1]! + m[2]! : line
      })
      .join('\n')
    expect(uncommented).toContain('\naliases:')
    const env = { OPENAI_API_KEY: 'sk-x', DS_KEY_1: 'a', DS_KEY_2: 'b', LAPTOP_KEY: 'l', ANTHROPIC_API_KEY: 'z' }
    expect(parseConfigText(uncommented, path, env).providers!.map((p) => p.name)).toEqual(['openai', 'deepseek', 'ollama', 'anthropic'])
    const again = await run('init', '--config', path)
    expect(again.code).toBe(1)
    expect(again.err).toContain('--force')
    expect((await run('init', '--config', path, '--force')).code).toBe(0)
  })
})

test('the banner points at the dashboard, and --help names every variable and the dashboard', async () => {
  const { firstRunBanner } = await import('../../src/cli/banner.ts')
  const { HELP } = await import('../../src/cli/help.ts')
  const { loadConfig } = await import('../../src/config/load.ts')
  const banner = firstRunBanner('http://127.0.0.1:8000', {}, loadConfig({}, { OPENAI_API_KEY: 'sk-x' }, '/nonexistent-dir'))
  expect(banner).toContain('dashboard: http://127.0.0.1:8000/dashboard')
  for (const name of ['SLUICE_ADMIN_TOKEN', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', '--force', '/dashboard']) expect(HELP).toContain(name)
})
