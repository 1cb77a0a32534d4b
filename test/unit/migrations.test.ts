import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { createClient } from '@libsql/client'
import { migrate } from '../../src/storage/migrate.ts'
import { journal, migrationSql } from '../../src/storage/migrations.ts'
import * as pg from '../../src/storage/pg/migrations.ts'

describe('embedded migrations', () => {
  test('every migration in drizzle/ is in the journal and embedded, byte for byte', () => {
    const files = readdirSync('drizzle').filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, ''))
    expect(journal.entries.map((e) => e.tag).sort()).toEqual(files.sort())
    for (const tag of files) expect(migrationSql[tag]).toBe(readFileSync(`drizzle/${tag}.sql`, 'utf8'))
  })

  test('the same for PostgreSQL\'s, in drizzle/pg/', () => {
    const files = readdirSync('drizzle/pg').filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, ''))
    expect(pg.journal.entries.map((e) => e.tag).sort()).toEqual(files.sort())
    for (const tag of files) expect(pg.migrationSql[tag]).toBe(readFileSync(`drizzle/pg/${tag}.sql`, 'utf8'))
  })

  test('they apply to an empty database once, and a second run applies nothing', async () => {
    const client = createClient({ url: ':memory:' })
    expect(await migrate(client)).toBe(journal.entries.length)
    expect(await migrate(client)).toBe(0)
    const tables = await client.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    expect(tables.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['client_keys', 'settings']))
    client.close()
  })
})
