import { afterAll } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase, type Database } from '../../src/storage/database.ts'
import { postgresUnavailable, startPostgres, type PgServer } from './postgres.ts'

/** One storage engine a test file runs against. */
export interface StorageEngine {
  name: 'sqlite' | 'postgres'
  /** Why this engine's tests are skipped here, or null: use with `describe.skipIf(engine.skip !== null)`. */
  skip: string | null
  /** The URL of a new, empty database. */
  url(): Promise<string>
  /** A new, empty database, opened (closed after the file's tests). */
  open(): Promise<Database>
}

/**
 * SQLite and PostgreSQL, for the storage tests that must hold on both. PostgreSQL is a throwaway
 * server this file starts on first use and stops after its tests; without PostgreSQL installed its
 * tests are skipped, and a console line says so and why.
 */
export function storageEngines(file: string): StorageEngine[] {
  const opened: Database[] = []
  const dir = mkdtempSync(join(tmpdir(), 'sluice-engines-'))
  let server: Promise<PgServer> | null = null
  let n = 0
  const reason = postgresUnavailable()
  if (reason) console.log(`${file}: PostgreSQL variants skipped: ${reason}`)
  afterAll(async () => {
    for (const d of opened) d.close()
    // Let the pools close before the server goes.
    await Bun.sleep(50)
    await (await server?.catch(() => null))?.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const engine = (name: StorageEngine['name'], skip: string | null, url: () => Promise<string>): StorageEngine => ({
    name,
    skip,
    url,
    async open() {
      const database = await openDatabase(await url())
      opened.push(database)
      return database
    },
  })
  return [
    engine('sqlite', null, async () => `file:${join(dir, `t${++n}.db`)}`),
    engine('postgres', reason, async () => (await (server ??= startPostgres())).createDatabase(`t${++n}`)),
  ]
}
