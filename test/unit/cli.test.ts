import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../../src/cli/index.ts'
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.ts'
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

describe('usage errors: a clear message and exit code 2', () => {
  test('an unknown flag is named, with the nearest one suggested', async () => {
    const typo = await run('--prot', '8080')
    expect(typo.code).toBe(2)
    expect(typo.err).toStartWith('sluice: unknown option --prot; did you mean --port?\n')
    expect((await run('keys', 'create', '--name', 'x', '--exipres', '2099-01-01')).err).toContain('unknown option --exipres; did you mean --expires?')
    expect((await run('check', '--conf', 'x.yaml')).err).toContain('did you mean --config?')
    // Nothing near: no guess.
    const far = await run('--colour')
    expect(far.err).toStartWith('sluice: unknown option --colour\n')
    expect(far.err).not.toContain('To specify a positional argument')
    expect((await run('--port')).err).toContain('sluice: --port needs a value')
    expect((await run('--force=yes')).err).toContain('sluice: --force takes no value')
    expect((await run('chek')).err).toContain('unknown command "chek"; did you mean "check"?')
  })

  test('a bad flag value exits 2 whatever the flag, before any config or database is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-usage-'))
    for (const argv of [
      ['--port', 'abc'],
      ['check', '--port', '70000'],
      ['--log-level', 'loud'],
      ['--host='],
      ['keys', 'create', '--name', 'x', '--rpm', 'abc', '--db', `file:${join(dir, 'none.db')}`],
      ['keys', 'create', '--name', 'x', '--reset-time', '25:00', '--config', join(dir, 'missing.yaml')],
    ]) {
      const r = await run(...argv)
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 })
    }
    expect((await run('--port', 'abc')).err).toContain('--port: expected a port number 0-65535, got "abc"')
  })
})

describe('keys create and list', () => {
  const dbIn = (dir: string) => `file:${join(dir, 'keys.db')}`

  test('a name a live key has is refused, so `keys revoke NAME` always knows the key; a revoked name is free again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'))
    expect((await run('keys', 'create', '--name', 'alice', '--db', dbIn(dir), '--force')).code).toBe(0)
    const again = await run('keys', 'create', '--name', 'alice', '--db', dbIn(dir))
    expect(again.code).toBe(2)
    expect(again.err).toContain('--name: a key named "alice" already exists')
    const revoked = await run('keys', 'revoke', 'alice', '--db', dbIn(dir))
    expect(revoked.code).toBe(0)
    expect(revoked.out).toContain('(alice)')
    expect((await run('keys', 'create', '--name', 'alice', '--db', dbIn(dir))).code).toBe(0)
  })

  test('an --expires already past is refused; one later today is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'))
    const past = await run('keys', 'create', '--name', 'late', '--expires', '2020-01-01', '--db', dbIn(dir), '--force')
    expect(past.code).toBe(2)
    expect(past.err).toContain('--expires: 2020-01-01 is already past')
    expect((await run('keys', 'create', '--name', 'late', '--expires', new Date(Date.now() - 1000).toISOString(), '--db', dbIn(dir), '--force')).code).toBe(2)
    // A date means through the end of that day (UTC): today still works.
    const today = new Date().toISOString().slice(0, 10)
    expect((await run('keys', 'create', '--name', 'today', '--expires', today, '--db', dbIn(dir), '--force')).code).toBe(0)
  })

  test('a date-only expiry is listed as the date given, the last day the key works, as it is enforced', async () => {
    const { parseExpiry } = await import('../../src/config/key-policy.ts')
    const { expiryText } = await import('../../src/cli/keys.ts')
    // Enforced: the key works while now < expiresAt, the midnight after that day (UTC).
    expect(parseExpiry('2099-12-31')).toBe(Date.parse('2100-01-01T00:00:00Z'))
    expect(expiryText(parseExpiry('2099-12-31'))).toBe('2099-12-31')
    expect(expiryText(parseExpiry('2099-06-01T12:30:00Z'))).toBe('2099-06-01 12:30')
    expect(expiryText(null)).toBe('-')
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'))
    await run('keys', 'create', '--name', 'dated', '--expires', '2099-12-31', '--db', dbIn(dir), '--force')
    await run('keys', 'create', '--name', 'timed', '--expires', '2099-06-01T12:30:00Z', '--db', dbIn(dir))
    const list = (await run('keys', 'list', '--db', dbIn(dir))).out
    expect(list).toMatch(/dated\s+sk-sluice-\S+\s+active\s+2099-12-31\s/)
    expect(list).toMatch(/timed\s+sk-sluice-\S+\s+active\s+2099-06-01 12:30\s/)
    expect(list).not.toContain('2100-01-01')
  })

  test('keys list lines up names in CJK (two columns a character) with the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'))
    for (const name of ['张三', 'bob', '数据团队-prod']) await run('keys', 'create', '--name', name, '--rpm', '5', '--db', dbIn(dir), '--force')
    const lines = (await run('keys', 'list', '--db', dbIn(dir))).out.trimEnd().split('\n')
    expect(lines).toHaveLength(4)
    // Where the PREFIX column starts, in terminal cells, is the same on every line.
    const cells = (line: string, column: string) => Bun.stringWidth(line.slice(0, line.indexOf(column)))
    const start = cells(lines[0]!, 'PREFIX')
    for (const line of lines.slice(1)) expect(cells(line, 'sk-sluice-')).toBe(start)
    const rpm = cells(lines[0]!, 'LIMITS')
    for (const line of lines.slice(1)) expect(cells(line, '5 rpm')).toBe(rpm)
  })
})

describe('secrets in the config file are long enough not to be guessed', () => {
  const check = (text: string, env: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-short-'))
    writeFileSync(join(dir, 'sluice.yaml'), text)
    try {
      loadConfig({ config: join(dir, 'sluice.yaml') }, env, dir)
      return []
    } catch (e) {
      return (e as ConfigError).problems
    }
  }

  test('a 5-character admin token or static client key is refused, naming the field', async () => {
    expect(check('admin: { token: abcde }\n')).toEqual(['admin.token: expected at least 20 characters'])
    expect(check('auth: { keys: [{ name: a, key: sk-12 }, sk-also-short, sk-this-one-is-long-enough-0123] }\n')).toEqual([
      'auth.keys[0].key: expected at least 20 characters',
      'auth.keys[1]: expected at least 20 characters',
    ])
    expect(check('providers: []\n', { SLUICE_ADMIN_TOKEN: 'short' })).toEqual(['SLUICE_ADMIN_TOKEN: expected at least 20 characters'])
    // Long enough, or unset (a token is then made on first start): valid.
    expect(check('admin: { token: "${SLUICE_ADMIN_TOKEN:-}" }\nauth: { keys: [{ name: a, key: sk-this-one-is-long-enough-0123 }] }\n')).toEqual([])
    expect(check('admin: { token: admin-token-0123456789abcdef }\n')).toEqual([])
    // And sluice check says so, exit 1.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-short-'))
    writeFileSync(join(dir, 'short.yaml'), 'admin: { token: abcde }\n')
    const r = await run('check', '--config', join(dir, 'short.yaml'))
    expect(r.code).toBe(1)
    expect(r.err).toContain('admin.token: expected at least 20 characters')
  })
})
