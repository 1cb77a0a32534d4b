/**
 * What a failed database call means for the gateway. libSQL reports SQLite's result code in
 * `code` (`SQLITE_BUSY`) and the extended one in `extendedCode` or, from the `libsql` package, in
 * `code` itself (`SQLITE_IOERR_WRITE`); both are reduced here to the base code. PostgreSQL's
 * failures (Bun's client: its own code in `code`, the server's SQLSTATE in `errno`) are reduced to
 * the same kinds, spelled PG_BUSY, PG_FULL, PG_READONLY, PG_PERM, PG_IOERR, PG_CORRUPT and
 * PG_UNAVAILABLE (the server cannot be reached or refuses the connection).
 */
export interface StorageFailure {
  /** SQLite's base result code (SQLITE_BUSY, SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, ...) or its PG_ kind. */
  code: string
  /** `SQLITE_IOERR_WRITE: disk I/O error`, `55P03: canceling statement due to lock timeout`: the code and the database's own words. */
  reason: string
}

const BASE_CODES = ['BUSY', 'LOCKED', 'FULL', 'READONLY', 'IOERR', 'CORRUPT', 'NOTADB', 'CANTOPEN', 'PERM', 'PROTOCOL'] as const

/** The SQLite failure behind an error thrown by libSQL, or null when it is something else. */
export function storageFailure(err: unknown, depth = 0): StorageFailure | null {
  if (typeof err !== 'object' || err === null) return null
  // Drizzle wraps the driver's error in its own ("Failed query: ..."), with the driver's as the cause.
  const cause = (err as { cause?: unknown }).cause
  if (cause !== undefined && depth < 3) {
    const inner = storageFailure(cause, depth + 1)
    if (inner) return inner
  }
  const pg = postgresFailure(err)
  if (pg) return pg
  const e = err as { code?: unknown; extendedCode?: unknown; message?: unknown }
  const extended = typeof e.extendedCode === 'string' ? e.extendedCode : typeof e.code === 'string' ? e.code : ''
  const base = BASE_CODES.find((c) => extended === `SQLITE_${c}` || extended.startsWith(`SQLITE_${c}_`))
  if (!base) return null
  const message = String(e.message ?? '').replace(/^SQLITE_[A-Z_]+: /, '')
  return { code: `SQLITE_${base}`, reason: `${extended}: ${message}` }
}

/** The PostgreSQL kind of an SQLSTATE, or null for errors that are the statement's own (syntax, constraints). */
function postgresKind(state: string): string | null {
  // A lock that was not granted in time, a deadlock broken by the server, a serialization conflict,
  // a cancelled statement: the same write may succeed when tried again.
  if (['55P03', '40P01', '40001', '57014'].includes(state)) return 'PG_BUSY'
  if (state === '53100') return 'PG_FULL'
  if (state === '25006') return 'PG_READONLY'
  if (state === '42501') return 'PG_PERM'
  if (state.startsWith('58')) return 'PG_IOERR'
  if (state === 'XX001' || state === 'XX002') return 'PG_CORRUPT'
  // Connections refused, broken or shut down; a login or database the server does not know.
  if (/^(08|53|57P0[123]|28|3D000)/.test(state)) return 'PG_UNAVAILABLE'
  return null
}

function postgresFailure(err: object): StorageFailure | null {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown }
  if (typeof e.code !== 'string' || !e.code.startsWith('ERR_POSTGRES_')) return null
  const message = String(e.message ?? '').split('\n')[0]
  if (e.code === 'ERR_POSTGRES_SERVER_ERROR') {
    const state = typeof e.errno === 'string' ? e.errno : ''
    const code = postgresKind(state)
    return code ? { code, reason: `${state}: ${message}` } : null
  }
  // Bun's own: the connection could not be made, was lost, or timed out.
  return /CONNECTION|TIMEOUT|TLS|AUTHENTICATION/.test(e.code) ? { code: 'PG_UNAVAILABLE', reason: `${e.code}: ${message}` } : null
}

/** Codes of a lock held by someone else (or a conflict the server broke): worth trying again shortly. */
export const isBusyCode = (code: string | undefined): boolean => code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'PG_BUSY'

/** A lock held by another process: worth trying again shortly. */
export const isBusy = (err: unknown): boolean => isBusyCode(storageFailure(err)?.code)

/** What a client is told when a write the gateway had to make could not be made. */
export function storageMessage(failure: StorageFailure): string {
  switch (failure.code) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
    case 'PG_BUSY':
      return `The database is locked by another process (${failure.reason}); try again shortly.`
    case 'SQLITE_FULL':
    case 'PG_FULL':
      return `The database disk is full (${failure.reason}).`
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
    case 'PG_READONLY':
    case 'PG_PERM':
      return `The database is read-only (${failure.reason}).`
    case 'PG_UNAVAILABLE':
      return `The database server cannot be reached (${failure.reason}).`
    default:
      return `The database cannot be written (${failure.reason}).`
  }
}

/** Busy answers: the lock is tried again after these pauses, up to the deadline. */
const RETRY_PAUSES_MS = [10, 25, 50, 100, 200]

/**
 * Runs `attempt` again while the database is locked, sleeping between tries instead of waiting
 * inside SQLite, which would hold the event loop. Each try waits at most the connection's short
 * busy timeout; after `deadlineMs` the last busy error is thrown.
 */
export async function retryWhileBusy<T>(attempt: () => Promise<T>, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (err) {
      const pause = RETRY_PAUSES_MS[Math.min(i, RETRY_PAUSES_MS.length - 1)]!
      if (!isBusy(err) || Date.now() + pause > deadline) throw err
      await Bun.sleep(pause)
    }
  }
}

/** A database failure that reached a client (an admin write), as the 503 it answers; null for other errors. */
export function storageRefusal(err: unknown): { message: string; retryAfterMs?: number } | null {
  const failure = storageFailure(err)
  if (!failure) return null
  return { message: storageMessage(failure), ...(isBusy(err) ? { retryAfterMs: 1000 } : {}) }
}
