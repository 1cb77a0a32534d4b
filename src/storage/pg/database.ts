import { SQL, type TransactionSQL } from 'bun'
import { drizzle } from 'drizzle-orm/bun-sql'
import { DEFAULT_POOL_SIZE } from '../../lib/postgres-url.ts'
import { DatabaseOpenError, type PostgresDatabase } from '../engine.ts'
import { retryWhileBusy, storageFailure } from '../storage-errors.ts'
import { createStorageHealth, type StorageHealth } from '../storage-health.ts'
import { migratePostgres } from './migrate.ts'
import { parsePostgresUrl } from './url.ts'
import * as schema from './schema.ts'

/** How long a write that someone waits for keeps trying a locked row (or a deadlock the server broke). */
const PATIENT_WRITE_MS = 5000
/**
 * A statement gives up on a row lock after this long (55P03), so a transaction stuck elsewhere
 * becomes an error that is retried or reported, never a write that hangs. The wait is the server's:
 * it holds no event loop, unlike SQLite's busy timeout.
 */
const LOCK_TIMEOUT = '2s'
/** The background writes' lock wait: one short try, as on SQLite; the caller tries again later. */
const BACKGROUND_LOCK_TIMEOUT = '500ms'
/** /health answers within this, whether or not the server does. */
const PING_MS = 2000

export interface PostgresOptions {
  poolSize?: number
}

const WRITE = /^\s*(insert|update|delete|create|drop|alter|with)\b/i

interface Watch {
  /** > 0: a lock or a deadlock is tried again for this long. */
  patientMs: number
  /** Writes wait at most this for a lock (a transaction-local setting) instead of the pool's. */
  lockTimeout: string | null
}

/**
 * Bun's client with its calls reported to `health` and handled as `watch` says. What drizzle calls
 * is covered: `unsafe` (a statement, its rows as objects or, with `.values()`, as arrays) and
 * `begin` (a transaction, run again whole when tried again).
 */
function watched(sql: SQL, health: StorageHealth, watch: Watch): SQL {
  const { patientMs, lockTimeout } = watch
  // `SET LOCAL` holds for one transaction: a write of its own is wrapped in one.
  const limited = <T>(fn: (tx: TransactionSQL) => Promise<T>): Promise<T> =>
    sql.begin(async (tx) => {
      await tx.unsafe(`SET LOCAL lock_timeout = '${lockTimeout}'`)
      return fn(tx)
    }) as Promise<T>
  const statement = (query: string, params: unknown[] | undefined, values: boolean, write: boolean): Promise<unknown> => {
    if (lockTimeout === null || !write) return values ? sql.unsafe(query, params).values() : sql.unsafe(query, params)
    return limited(async (tx) => (values ? tx.unsafe(query, params).values() : tx.unsafe(query, params)))
  }
  const run = async <T>(write: boolean, call: () => Promise<T>): Promise<T> => {
    try {
      const result = patientMs > 0 ? await retryWhileBusy(call, patientMs) : await call()
      if (write) health.succeeded()
      return result
    } catch (err) {
      health.failed(err)
      throw err
    }
  }
  return new Proxy(sql, {
    get(target, prop) {
      if (prop === 'unsafe') {
        return (query: string, params?: unknown[]) => {
          const write = WRITE.test(query)
          // A fresh query per try: one that has run cannot be run again.
          return {
            values: () => run(write, () => statement(query, params, true, write)),
            then: <A, B>(ok?: (rows: unknown) => A, failed?: (err: unknown) => B) => run(write, () => statement(query, params, false, write)).then(ok, failed),
          }
        }
      }
      if (prop === 'begin') {
        return (fn: (tx: TransactionSQL) => Promise<unknown>) => run(true, () => (lockTimeout === null ? target.begin(fn) : limited(fn)))
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * Opens a pool on a PostgreSQL server and brings the schema up to date (under an advisory lock,
 * so instances starting together migrate once). `password` (the config's `database.auth_token`)
 * is used when the URL carries none. Failures are a DatabaseOpenError naming the server without
 * the password.
 */
export async function openPostgres(url: string, password: string | null, options: PostgresOptions = {}): Promise<PostgresDatabase> {
  const target = parsePostgresUrl(url)
  if (typeof target === 'string') throw new DatabaseOpenError(target)
  const health = createStorageHealth()
  // Every field given, so nothing is taken from PG* variables of the environment by surprise.
  const pool = new SQL({
    url: target.url,
    hostname: target.hostname,
    port: target.port,
    database: target.database,
    ...(target.username ? { username: target.username } : {}),
    password: target.password ?? password ?? '',
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeout: 60,
    connectionTimeout: 10,
    connection: { application_name: 'sluice', lock_timeout: LOCK_TIMEOUT },
  })
  const close = () => void pool.close({ timeout: 5 }).catch(() => {})
  try {
    await migratePostgres(pool)
  } catch (err) {
    close()
    const failure = storageFailure(err)
    const reason = failure?.reason ?? String((err as Error)?.message ?? err).split('\n')[0]
    throw new DatabaseOpenError(`cannot open the database ${target.shown}: ${reason}`)
  }
  const client = watched(pool, health, { patientMs: PATIENT_WRITE_MS, lockTimeout: null })
  const backgroundClient = watched(pool, health, { patientMs: 0, lockTimeout: BACKGROUND_LOCK_TIMEOUT })
  return {
    engine: 'postgres',
    db: drizzle({ client, schema }),
    client,
    background: drizzle({ client: backgroundClient, schema }),
    backgroundClient,
    filePath: null,
    health,
    async ping() {
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_MS)))
      try {
        return await Promise.race([pool.unsafe('SELECT 1').then(() => true, () => false), late])
      } finally {
        clearTimeout(timer)
      }
    },
    close,
  }
}
