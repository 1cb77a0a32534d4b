import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.ts'

function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(text, 'test.yaml', env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

function writeConfig(text: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'))
  const path = join(dir, 'sluice.yaml')
  writeFileSync(path, text)
  return { dir, path }
}

describe('config validation names the field and what was expected', () => {
  test('a wrong type', () => {
    expect(problemsOf('server: { port: eighty }')).toEqual(['server.port: expected integer'])
  })

  test('an unknown key, nested in a list', () => {
    const problems = problemsOf('providers:\n  - name: a\n    type: openai\n    keys: [k]\n    bse_url: http://x\n')
    expect(problems).toHaveLength(1)
    expect(problems[0]).toStartWith('providers[0].bse_url: unknown field')
  })

  test('a value outside its set', () => {
    expect(problemsOf('log: { level: loud }')).toEqual(['log.level: expected one of: trace, debug, info, warn, error, fatal'])
    expect(problemsOf('providers: [{ name: a, type: nope, keys: [k] }]')).toEqual(['providers[0].type: expected one of: openai, anthropic, gemini, module, flow'])
  })

  test('a missing required field', () => {
    expect(problemsOf('providers: [{ name: a, type: openai }]')).toEqual(['providers[0].keys: required field is missing'])
  })

  test('YAML syntax errors give the line', () => {
    expect(problemsOf('server:\n  port: [1, 2\n')[0]).toMatch(/not valid YAML.*line/s)
  })

  test('semantic problems: bad URL, no keys, duplicate names', () => {
    const { dir, path } = writeConfig(
      'providers:\n  - { name: a, type: openai, base_url: "ftp://x", keys: [k] }\n  - { name: a, type: openai, keys: ["${EMPTY:-}"] }\n',
    )
    let problems: string[] = []
    try {
      loadConfig({ config: path }, {}, dir)
    } catch (err) {
      problems = (err as ConfigError).problems
    }
    expect(problems).toEqual([
      'providers[0].base_url: expected an http(s) URL, got "ftp://x"',
      'providers[1].keys: expected at least one non-empty key',
      'providers[1].name: "a" is used by another provider',
    ])
  })

  test('interpolated strings become numbers and booleans where the schema wants them', () => {
    const file = parseConfigText('server: { port: ${PORT} }\nauth: { required: ${REQ} }\n', 'x.yaml', { PORT: '9000', REQ: 'false' })
    expect(file.server?.port).toBe(9000)
    expect(file.auth?.required).toBe(false)
  })
})

describe('precedence: defaults < file < environment < flags', () => {
  const { dir, path } = writeConfig('server: { host: 0.0.0.0, port: 7000 }\nlog: { level: warn }\ndatabase: { url: "file:from-file.db" }\n')

  test('defaults', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sluice-empty-'))
    const c = loadConfig({}, {}, empty)
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8000, max_body_bytes: 32 * 1024 * 1024 })
    // Relative paths are made absolute, so every command finds the same file.
    expect(c.database.url).toBe(`file:${join(empty, 'sluice.db')}`)
    expect(c.log.level).toBe('info')
    expect(c.auth.required).toBe(true)
    expect(c.source).toBeNull()
  })

  test('the file over the defaults', () => {
    const c = loadConfig({ config: path }, {}, dir)
    expect(c.server.port).toBe(7000)
    expect(c.log.level).toBe('warn')
  })

  test('the environment over the file, flags over the environment', () => {
    const env = { SLUICE_PORT: '7100', SLUICE_LOG_LEVEL: 'debug', SLUICE_DB: 'file:env.db', SLUICE_HOST: '127.0.0.2' }
    const c = loadConfig({ config: path }, env, dir)
    expect([c.server.port, c.log.level, c.database.url, c.server.host]).toEqual([7100, 'debug', `file:${join(dir, 'env.db')}`, '127.0.0.2'])
    const f = loadConfig({ config: path, port: '7200', logLevel: 'error', db: 'file:flag.db', host: '127.0.0.3' }, env, dir)
    expect([f.server.port, f.log.level, f.database.url, f.server.host]).toEqual([7200, 'error', `file:${join(dir, 'flag.db')}`, '127.0.0.3'])
  })

  test('SLUICE_CONFIG names the file; a sluice.yaml in the working directory is found by itself', () => {
    expect(loadConfig({}, { SLUICE_CONFIG: path }, tmpdir()).server.port).toBe(7000)
    expect(loadConfig({}, {}, dir).source).toBe(path)
  })

  test('a bad flag or variable value names its origin', () => {
    expect(() => loadConfig({ port: 'x' }, {}, dir)).toThrow('--port: expected a port number')
    expect(() => loadConfig({}, { SLUICE_LOG_LEVEL: 'loud' }, dir)).toThrow('SLUICE_LOG_LEVEL: expected one of')
  })

  test('the resolved config is frozen', () => {
    const c = loadConfig({ config: path }, {}, dir)
    expect(Object.isFrozen(c.server)).toBe(true)
  })
})

describe('zero-config', () => {
  const empty = mkdtempSync(join(tmpdir(), 'sluice-zero-'))

  test('OPENAI_API_KEY alone defines the provider openai', () => {
    const c = loadConfig({}, { OPENAI_API_KEY: 'sk-a' }, empty)
    expect(c.providers).toHaveLength(1)
    expect(c.providers[0]).toMatchObject({ name: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', keys: ['sk-a'] })
  })

  test('GEMINI_API_KEY (or GOOGLE_API_KEY) defines the provider gemini, at Google unless GEMINI_BASE_URL says otherwise', () => {
    expect(loadConfig({}, { GEMINI_API_KEY: 'AIza-a' }, empty).providers[0]).toMatchObject({ name: 'gemini', type: 'gemini', base_url: 'https://generativelanguage.googleapis.com', keys: ['AIza-a'] })
    expect(loadConfig({}, { GOOGLE_API_KEY: 'AIza-b', GEMINI_BASE_URL: 'http://127.0.0.1:9/' }, empty).providers[0]).toMatchObject({ type: 'gemini', base_url: 'http://127.0.0.1:9', keys: ['AIza-b'] })
  })

  test('OPENAI_BASE_URL moves it, and a comma-separated key list is a pool', () => {
    const c = loadConfig({}, { OPENAI_API_KEY: 'sk-a, sk-b', OPENAI_BASE_URL: 'http://127.0.0.1:1234/v1/' }, empty)
    expect(c.providers[0]).toMatchObject({ base_url: 'http://127.0.0.1:1234/v1', keys: ['sk-a', 'sk-b'] })
  })

  test('a file with providers is not extended from the environment', () => {
    const { dir, path } = writeConfig('providers: [{ name: ds, type: openai, base_url: "http://127.0.0.1:9/v1", keys: [k] }]')
    const c = loadConfig({ config: path }, { OPENAI_API_KEY: 'sk-a' }, dir)
    expect(c.providers.map((p) => p.name)).toEqual(['ds'])
  })

  test('SLUICE_ADMIN_TOKEN sets the admin token', () => {
    expect(loadConfig({}, { SLUICE_ADMIN_TOKEN: 'admin-token-from-the-env-0123' }, empty).admin.token).toBe('admin-token-from-the-env-0123')
  })
})
