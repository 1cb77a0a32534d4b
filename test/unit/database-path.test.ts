import { describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keysCommand } from '../../src/cli/keys.ts'
import { databaseUrl, loadConfig, loadDatabaseConfig } from '../../src/config/load.ts'

// `serve` and `keys` must find the same database wherever they are run from: a relative path in
// the config file is next to the file; one typed in the shell is from the working directory.
function setup() {
  const root = mkdtempSync(join(tmpdir(), 'sluice-dbpath-'))
  const etc = join(root, 'etc')
  const home = join(root, 'home')
  mkdirSync(etc)
  mkdirSync(home)
  const config = join(etc, 'sluice.yaml')
  // A provider secret the admin's shell does not have: `keys` must not need it.
  writeFileSync(config, 'database: { url: file:./sluice.db }\nproviders: [{ name: p, type: openai, base_url: "http://127.0.0.1:9/v1", keys: [${PROVIDER_SECRET_NOT_SET}] }]\n')
  return { root, etc, home, config }
}

const sink = () => {
  const lines: string[] = []
  return { write: (s: string) => void lines.push(s), text: () => lines.join('') }
}

describe('relative database paths', () => {
  test('from the config file: next to the file, for serve and keys alike; from the shell: the working directory', () => {
    const { etc, home, config } = setup()
    expect(loadConfig({ config }, { PROVIDER_SECRET_NOT_SET: 'x' }, home).database.url).toBe(`file:${join(etc, 'sluice.db')}`)
    expect(loadDatabaseConfig({ config }, {}, home).url).toBe(`file:${join(etc, 'sluice.db')}`)
    expect(loadDatabaseConfig({ config, db: 'file:./here.db' }, {}, home).url).toBe(`file:${join(home, 'here.db')}`)
    expect(databaseUrl(undefined, undefined, null, home)).toBe(`file:${join(home, 'sluice.db')}`)
    expect(databaseUrl(undefined, 'file:/abs/x.db', join(etc, 'c.yaml'), home)).toBe('file:/abs/x.db')
    expect(databaseUrl(undefined, 'libsql://db.example:8080', null, home)).toBe('libsql://db.example:8080')
  })

  test('keys says which database it uses, and refuses to create a new one unless told to', async () => {
    const { etc, home, config } = setup()
    const out = sink()
    const err = sink()
    const code = await keysCommand(loadDatabaseConfig({ config }, {}, home), 'list', null, {}, out, err)
    expect(code).toBe(1)
    expect(err.text()).toContain(`database: file:${join(etc, 'sluice.db')}`)
    expect(err.text()).toContain('--force')
    expect(existsSync(join(etc, 'sluice.db'))).toBe(false)
    expect(existsSync(join(home, 'sluice.db'))).toBe(false)
    const forced = await keysCommand(loadDatabaseConfig({ config }, {}, home), 'create', null, { name: 'first' }, out, sink(), true)
    expect(forced).toBe(0)
    expect(existsSync(join(etc, 'sluice.db'))).toBe(true)
    const listed = sink()
    expect(await keysCommand(loadDatabaseConfig({ config }, {}, home), 'list', null, {}, listed, sink())).toBe(0)
    expect(listed.text()).toContain('first')
  })
})
