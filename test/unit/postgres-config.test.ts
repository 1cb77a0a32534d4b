import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, loadDatabaseConfig } from '../../src/config/load.ts'
import { unsharedLimitsWarning } from '../../src/config/shared-database.ts'
import { databaseUrlProblem, DatabaseOpenError, openDatabase } from '../../src/storage/database.ts'

const PASSWORD = 's3cr:t/p@ss'
const URL_WITH_PASSWORD = `postgres://sluice:${encodeURIComponent(PASSWORD)}@db.internal:6543/sluice?sslmode=require`

function load(text: string, flags: { db?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pgcfg-'))
  const path = join(dir, 'sluice.yaml')
  writeFileSync(path, text)
  return { run: () => loadConfig({ config: path, ...flags }, {}, dir), path, dir }
}

function problems(run: () => unknown): string[] {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('a postgres:// database in the config', () => {
  test('the password leaves the URL for auth_token, so the URL can be shown; pool size 5 unless set', () => {
    const { run } = load(`database: { url: "${URL_WITH_PASSWORD}", allow_unshared_limits: true }\n`)
    const config = run()
    expect(config.database).toEqual({ url: 'postgres://sluice@db.internal:6543/sluice?sslmode=require', auth_token: PASSWORD, pool_size: 5, allow_unshared_limits: true })
    const withPool = load('database: { url: "postgresql://h/db", auth_token: pw, pool_size: 12, allow_unshared_limits: true }\n').run()
    expect(withPool.database).toMatchObject({ url: 'postgresql://h/db', auth_token: 'pw', pool_size: 12 })
    expect(problems(load('database: { url: "postgres://h/db", pool_size: 0 }\n').run)).toEqual(['database.pool_size: expected integer to be greater or equal to 1'])
  })

  test('`sluice keys` reads it the same way', () => {
    const { path, dir } = load(`database: { url: "${URL_WITH_PASSWORD}" }\n`)
    expect(loadDatabaseConfig({ config: path }, {}, dir)).toEqual({ url: 'postgres://sluice@db.internal:6543/sluice?sslmode=require', auth_token: PASSWORD, source: path })
  })

  test('without redis, start-up refuses unless database.allow_unshared_limits says it is meant; the problem names the field', () => {
    const refused = problems(load(`database: { url: "${URL_WITH_PASSWORD}" }\n`).run)
    expect(refused).toHaveLength(1)
    expect(refused[0]).toStartWith('database.allow_unshared_limits: ')
    expect(refused[0]).toContain('redis')
    expect(refused[0]).not.toContain(PASSWORD)
    // From the command line too.
    expect(problems(load('{}\n', { db: 'postgres://u:pw@h/db' }).run)[0]).toStartWith('database.allow_unshared_limits: ')
    expect(problems(load('database: { url: "postgres://h/db" }\nredis: { url: "redis://127.0.0.1:6379" }\n').run)).toEqual([])
    expect(problems(load('database: { url: "postgres://h/db", allow_unshared_limits: true }\n').run)).toEqual([])
    // The embedded database is one instance's: nothing to refuse.
    expect(problems(load('database: { url: "file:./x.db" }\n').run)).toEqual([])
  })

  test('allowed without redis, start-up warns; with redis or SQLite it does not', () => {
    const allowed = load('database: { url: "postgres://h/db", allow_unshared_limits: true }\n').run()
    expect(unsharedLimitsWarning(allowed)).toContain('N times the limits')
    expect(unsharedLimitsWarning(load('database: { url: "postgres://h/db" }\nredis: { url: "redis://127.0.0.1:6379" }\n').run())).toBeNull()
    expect(unsharedLimitsWarning(load('{}\n').run())).toBeNull()
  })
})

describe('a bad postgres:// URL', () => {
  test('is one line naming the URL, without its password', () => {
    for (const [url, expected] of [
      [`postgres://u:${PASSWORD}@/db`, /^database URL: not a valid postgres:\/\/ URL/],
      ['postgres://u:hunter2@/db', /^database URL: not a valid postgres:\/\/ URL/],
      ['postgres:///sluice', /^database URL postgres:\/\/\/sluice: expected a host/],
      ['postgres://u:hunter2@db.example:5432', /^database URL postgres:\/\/u@db\.example:5432\/?: expected a database name/],
      ['postgres://u:hunter2@db.example:99999/x', /^database URL: not a valid postgres:\/\/ URL/],
    ] as const) {
      const problem = databaseUrlProblem(url)
      expect(problem).toMatch(expected)
      expect(problem).not.toContain('hunter2')
      expect(problem).not.toContain(PASSWORD)
      expect(problem).not.toContain('\n')
    }
    expect(databaseUrlProblem('postgres://u:pw@db.example/sluice')).toBeNull()
    expect(databaseUrlProblem('potsgres://u:hunter2@db/x')).toBe('database URL potsgres:… has no scheme sluice knows: file:, libsql://, https:// or postgres://')
  })

  test('a server that cannot be reached stops the open with one line naming it, without the password', async () => {
    const err = await openDatabase('postgres://sluice@127.0.0.1:1/sluice', 'hunter2').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DatabaseOpenError)
    const message = (err as Error).message
    expect(message).toStartWith('cannot open the database postgres://sluice@127.0.0.1:1/sluice: ')
    expect(message).toContain('ERR_POSTGRES_CONNECTION_REFUSED')
    expect(message).not.toContain('hunter2')
    expect(message).not.toContain('\n')
  })
})
