import type { Client } from '@libsql/client'
import { SQL } from 'bun'
import { is } from 'drizzle-orm'
import type { BunSQLDatabase } from 'drizzle-orm/bun-sql'
import type { LibSQLDatabase } from 'drizzle-orm/libsql'
import { PgDatabase } from 'drizzle-orm/pg-core'
import type * as pgSchema from './pg/schema.ts'
import type * as schema from './schema.ts'
import type { StorageHealth } from './storage-health.ts'

/** Drizzle over libSQL: an embedded SQLite file or a libSQL server. */
export type SqliteDb = LibSQLDatabase<typeof schema>
/** Drizzle over Bun's PostgreSQL client. */
export type PgDb = BunSQLDatabase<typeof pgSchema>
/** Either engine's database; the stores take it and `isPg` tells which. */
export type Db = SqliteDb | PgDb
/** The raw client beside a `Db`, for the few plain queries (`rawQuery`). */
export type RawClient = Client | SQL

export const isPg = (db: Db): db is PgDb => is(db, PgDatabase)

/** `other` (the background twin of `db`), checked to be of the same engine, typed as `db` is. */
export function sameEngine<D extends Db>(db: D, other: Db): D {
  if (isPg(db) !== isPg(other)) throw new TypeError('a database and its background twin must be of one engine')
  return other as D
}

interface Opened {
  /** What the writes have seen: /health reports it. */
  health: StorageHealth
  /** Cheap liveness check for /health. */
  ping(): Promise<boolean>
  close(): void
}

export interface SqliteDatabase extends Opened {
  engine: 'sqlite'
  /** For reads and for writes someone waits for: a locked database is tried again for a while. */
  db: SqliteDb
  client: Client
  /** For the background writes (usage, last use, key state): one short try, the caller retries later. */
  background: SqliteDb
  backgroundClient: Client
  /** The file behind a `file:` URL; null for a libSQL server. */
  filePath: string | null
}

export interface PostgresDatabase extends Opened {
  engine: 'postgres'
  /** Reads, and writes someone waits for: a lock or deadlock is tried again for a while. */
  db: PgDb
  /** The pool (Bun's client) under `db`, watched the same way. */
  client: SQL
  /** One try, for the background writes. */
  background: PgDb
  backgroundClient: SQL
  filePath: null
}

export type Database = SqliteDatabase | PostgresDatabase

/** The database could not be opened or is damaged; the message names it and the problem, on one line. */
export class DatabaseOpenError extends Error {}

/** `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...); the statements given here hold no `?` in literals. */
export const numbered = (sql: string): string => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

/**
 * One plain statement on either engine's raw client, `?` placeholders, rows as objects: for the
 * polls that run several times a second, and the dashboard's hand-written aggregates.
 */
export async function rawQuery(client: RawClient, sql: string, args: ReadonlyArray<string | number | null> = []): Promise<Record<string, unknown>[]> {
  if (client instanceof SQL) return [...(await client.unsafe(numbered(sql), [...args]))] as Record<string, unknown>[]
  const rs = await client.execute({ sql, args: [...args] })
  return rs.rows as unknown as Record<string, unknown>[]
}

/** One plain write on either engine's raw client, `?` placeholders; how many rows it changed. */
export async function rawExecute(client: RawClient, sql: string, args: ReadonlyArray<string | number | null> = []): Promise<number> {
  if (client instanceof SQL) return (await client.unsafe(numbered(sql), [...args])).count
  return (await client.execute({ sql, args: [...args] })).rowsAffected
}
