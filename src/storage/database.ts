import { existsSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createClient, type Client } from '@libsql/client'
import { drizzle } from 'drizzle-orm/libsql'
import { DatabaseOpenError, type Database, type SqliteDatabase } from './engine.ts'
import { migrate } from './migrate.ts'
import { openPostgres, type PostgresOptions } from './pg/database.ts'
import { isPostgresUrl, parsePostgresUrl } from './pg/url.ts'
import * as schema from './schema.ts'
import { retryWhileBusy, storageFailure } from './storage-errors.ts'
import { createStorageHealth, type StorageHealth } from './storage-health.ts'

export { DatabaseOpenError, isPg, type Database, type Db, type PgDb, type PostgresDatabase, type RawClient, type SqliteDatabase, type SqliteDb } from './engine.ts'

/**
 * How long one SQLite call may wait for a lock held by someone else. The file client is
 * synchronous, so this wait holds the event loop: it stays short, and longer waits are sleeps
 * between tries (`retryWhileBusy`).
 */
export const BUSY_TIMEOUT_MS = 20
/** How long a write that someone waits for (admin API, CLI, start-up) keeps trying a locked database. */
export const PATIENT_WRITE_MS = 5000

const SCHEMES = ['file:', 'libsql:', 'http:', 'https:', 'ws:', 'wss:']

/** What is wrong with a database URL before anything is opened, or null; `sluice check` and start-up share it. */
export function databaseUrlProblem(url: string): string | null {
  if (isPostgresUrl(url)) {
    const target = parsePostgresUrl(url)
    return typeof target === 'string' ? target : null
  }
  if (!SCHEMES.some((s) => url.startsWith(s))) {
    // Not repeated when it may carry a password (a URL with a mistyped scheme).
    if (url.includes('@')) return `database URL ${url.slice(0, url.indexOf(':') + 1)}… has no scheme sluice knows: file:, libsql://, https:// or postgres://`
    return `database URL "${url}" has no scheme: write "file:${url}" for a file, a libsql:// or https:// URL for a libSQL server, or a postgres:// URL for PostgreSQL`
  }
  const path = filePathOf(url)
  if (path === null || path === ':memory:' || path === '') return null
  const dir = dirname(resolve(path))
  if (!existsSync(dir)) return `database file ${path}: the directory ${dir} does not exist`
  if (!statSync(dir).isDirectory()) return `database file ${path}: ${dir} is not a directory`
  if (existsSync(path) && statSync(path).isDirectory()) return `database file ${path}: it is a directory`
  return null
}

function filePathOf(url: string): string | null {
  if (!url.startsWith('file:')) return null
  return decodeURIComponent(url.slice(5).replace(/\?.*$/, '').replace(/^\/\/(localhost)?(?=\/)/, ''))
}

/**
 * The libSQL client of a file, replaced by a fresh one after a statement fails on it. A statement
 * that fails with SQLITE_BUSY is not reset by libSQL, and the read transaction it opened stays open:
 * that connection then reads an old snapshot and fails every later write with SQLITE_BUSY_SNAPSHOT,
 * long after the lock is gone. The swap waits until no call is running on the old client.
 */
function replaceable(open: () => Client) {
  let current = open()
  let poisoned = false
  let running = 0
  return {
    async use<T>(call: (client: Client) => Promise<T>): Promise<T> {
      if (poisoned && running === 0) {
        current.close()
        current = open()
        poisoned = false
      }
      running++
      try {
        return await call(current)
      } catch (err) {
        if (storageFailure(err)) poisoned = true
        throw err
      } finally {
        running--
      }
    },
    current: () => current,
    close: () => current.close(),
  }
}

type Replaceable = ReturnType<typeof replaceable>

/** A client whose calls report to `health` and, when `patientMs` > 0, try a locked database again with sleeps. */
function watched(clients: Replaceable, health: StorageHealth, patientMs: number): Client {
  const run = async <T>(write: boolean, call: (client: Client) => Promise<T>): Promise<T> => {
    const once = () => clients.use(call)
    try {
      const result = patientMs > 0 ? await retryWhileBusy(once, patientMs) : await once()
      if (write) health.succeeded()
      return result
    } catch (err) {
      health.failed(err)
      throw err
    }
  }
  return new Proxy(clients.current(), {
    get(_, prop) {
      if (prop === 'execute') {
        return (stmt: Parameters<Client['execute']>[0], args?: never) =>
          run(isWrite(stmt), (c) => (args === undefined ? c.execute(stmt) : c.execute(stmt as string, args)))
      }
      if (prop === 'batch') {
        return (stmts: Parameters<Client['batch']>[0], mode?: Parameters<Client['batch']>[1]) =>
          run(mode === 'write' || stmts.some(isWrite), (c) => c.batch(stmts, mode))
      }
      if (prop === 'migrate') return (stmts: Parameters<Client['migrate']>[0]) => run(true, (c) => c.migrate(stmts))
      const target = clients.current()
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

const WRITE = /^\s*(insert|update|delete|replace|create|drop|alter|vacuum)\b/i
function isWrite(stmt: unknown): boolean {
  const sql = typeof stmt === 'string' ? stmt : Array.isArray(stmt) ? stmt[0] : (stmt as { sql?: unknown })?.sql
  return typeof sql === 'string' && WRITE.test(sql)
}

/** PostgreSQL only: the pool size. */
export type OpenOptions = PostgresOptions

/**
 * Opens the database a URL names: PostgreSQL for `postgres://` (`authToken` is then the password,
 * when the URL has none), libSQL for the rest. The schema is brought up to date; any failure is a
 * DatabaseOpenError naming the database and the problem.
 */
export async function openDatabase(url: string, authToken?: string | null, options: OpenOptions = {}): Promise<Database> {
  if (isPostgresUrl(url)) return openPostgres(url, authToken ?? null, options)
  return openSqlite(url, authToken)
}

/**
 * Opens (and creates) the libSQL database, checks a file for damage and brings the schema up to
 * date. Any failure is a DatabaseOpenError naming the file and the problem.
 */
export async function openSqlite(url: string, authToken?: string | null): Promise<SqliteDatabase> {
  const problem = databaseUrlProblem(url)
  if (problem) throw new DatabaseOpenError(problem)
  const filePath = filePathOf(url)
  const where = filePath !== null ? `database file ${filePath}` : `database ${url.replace(/\?.*$/, '')}`
  const health = createStorageHealth()
  let raw: Replaceable | null = null
  try {
    raw = replaceable(() => createClient({ url, authToken: authToken ?? undefined, timeout: BUSY_TIMEOUT_MS }))
    const client = watched(raw, health, PATIENT_WRITE_MS)
    if (filePath !== null) {
      // Damage inside the file shows here, at start, rather than as a failing write later on.
      const check = await client.execute('PRAGMA quick_check')
      const found = check.rows.map((r) => String(r[0])).filter((s) => s !== 'ok')
      if (found.length > 0) throw new DatabaseOpenError(`${where} is damaged (PRAGMA quick_check: ${found.join('; ').replace(/\s*\n\s*/g, ' ').slice(0, 300)})`)
      // Pruned request-log pages go back to the file system (PRAGMA incremental_vacuum), so the file
      // stops growing once retention applies. Switching an existing file over needs one VACUUM.
      const mode = await client.execute('PRAGMA auto_vacuum')
      if (Number(mode.rows[0]?.[0]) !== 2) {
        await client.execute('PRAGMA auto_vacuum = INCREMENTAL')
        await client.execute('VACUUM')
      }
      // WAL lets the CLI and dashboard read while the server writes, and readers never wait on a writer.
      await client.execute('PRAGMA journal_mode = WAL')
      await client.execute('PRAGMA synchronous = NORMAL')
    }
    await migrate(client)
    const opened = raw
    const fast = watched(raw, health, 0)
    return {
      engine: 'sqlite',
      db: drizzle(client, { schema }),
      client,
      background: drizzle(fast, { schema }),
      backgroundClient: fast,
      filePath,
      health,
      async ping() {
        try {
          await opened.use((c) => c.execute('SELECT 1'))
          return true
        } catch {
          return false
        }
      },
      close: () => opened.close(),
    }
  } catch (err) {
    raw?.close()
    if (err instanceof DatabaseOpenError) throw err
    throw new DatabaseOpenError(`cannot open the ${where}: ${describeOpenError(err)}`)
  }
}

function describeOpenError(err: unknown): string {
  const failure = storageFailure(err)
  if (failure?.code === 'SQLITE_NOTADB') return `it is not a SQLite database (${failure.reason})`
  if (failure?.code === 'SQLITE_CORRUPT') return `it is damaged (${failure.reason})`
  if (failure) return failure.reason
  const e = err as { code?: unknown; message?: unknown }
  const message = String(e?.message ?? err).split('\n')[0]!
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message
}
