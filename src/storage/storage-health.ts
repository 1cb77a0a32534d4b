import { isBusyCode, storageFailure, type StorageFailure } from './storage-errors.ts'

/** A lock held this long by another process makes the database count as locked, not just busy. */
export const LOCKED_AFTER_MS = 2000

export interface StorageReport {
  writable: boolean
  /** The failing write's code and the database's message, while writes fail. */
  error?: string
  /** Since when writes have been failing, ISO 8601. */
  failing_since?: string
}

/**
 * The state of the database as the writes see it: every background or admin write reports its
 * outcome here, and /health reads the verdict. A brief lock is normal contention; a lock that lasts,
 * a read-only or full database, or an I/O error makes the gateway degraded until a write succeeds.
 */
export function createStorageHealth(now: () => number = Date.now) {
  let failure: (StorageFailure & { since: number }) | null = null
  return {
    succeeded(): boolean {
      const was = failure !== null
      failure = null
      return was
    },
    /** Records a failed write; returns what it was, or null when it was not a database failure. */
    failed(err: unknown): StorageFailure | null {
      const f = storageFailure(err)
      if (!f) return null
      failure = { ...f, since: failure?.since ?? now() }
      return f
    },
    report(): StorageReport {
      if (!failure) return { writable: true }
      if (isBusyCode(failure.code) && now() - failure.since < LOCKED_AFTER_MS) return { writable: true }
      return { writable: false, error: failure.reason, failing_since: new Date(failure.since).toISOString() }
    },
  }
}

export type StorageHealth = ReturnType<typeof createStorageHealth>
