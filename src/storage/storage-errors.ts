/**
 * What a failed database call means for the gateway. libSQL reports SQLite's result code in
 * `code` (`SQLITE_BUSY`) and the extended one in `extendedCode` or, from the `libsql` package, in
 * `code` itself (`SQLITE_IOERR_WRITE`); both are reduced here to the base code.
 */
export interface StorageFailure {
  /** SQLite's base result code: SQLITE_BUSY, SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, ... */
  code: string
  /** `SQLITE_IOERR_WRITE: disk I/O error`: the code and SQLite's own words. */
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
  const e = err as { code?: unknown; extendedCode?: unknown; message?: unknown }
  const extended = typeof e.extendedCode === 'string' ? e.extendedCode : typeof e.code === 'string' ? e.code : ''
  const base = BASE_CODES.find((c) => extended === `SQLITE_${c}` || extended.startsWith(`SQLITE_${c}_`))
  if (!base) return null
  const message = String(e.message ?? '').replace(/^SQLITE_[A-Z_]+: /, '')
  return { code: `SQLITE_${base}`, reason: `${extended}: ${message}` }
}

/** A lock held by another process: worth trying again shortly. */
export const isBusy = (err: unknown): boolean => {
  const code = storageFailure(err)?.code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

/** What a client is told when a write the gateway had to make could not be made. */
export function storageMessage(failure: StorageFailure): string {
  switch (failure.code) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return `The database is locked by another process (${failure.reason}); try again shortly.`
    case 'SQLITE_FULL':
      return `The database disk is full (${failure.reason}).`
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
      return `The database is read-only (${failure.reason}).`
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
