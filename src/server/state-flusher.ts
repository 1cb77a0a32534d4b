import { sumInto, type CountedLimitStore } from '../gateway/access/limits/store.ts'
import type { Logger } from '../observability/logger.ts'
import type { ClientKeyStore } from '../storage/client-key-store.ts'
import { storageFailure } from '../storage/storage-errors.ts'
import type { UsageRow, UsageStore } from '../storage/usage-store.ts'

/** What the flusher writes besides usage: stores with their own queue of pending writes. */
interface PendingWrites {
  flush(): Promise<void>
}

export interface StateFlusherParts {
  limits: CountedLimitStore
  usage: UsageStore
  keys: ClientKeyStore
  /** Disabled upstream keys, kept responses. */
  others: readonly PendingWrites[]
  logger: Logger
  /** Told which flush took what was counted, and the usage cut each save saw (shared limits only). */
  ledger?: { taken(): number; saved(batch: number, cut: number): void }
}

/**
 * Saves what the request path only notes in memory: quota usage (as increments: several processes
 * may share the database), client keys' last use, and the other stores' pending writes. What could
 * not be saved waits for the next flush, added up with what came meanwhile, so a retry neither
 * loses nor doubles.
 */
export class StateFlusher {
  private readonly unsaved = new Map<string, UsageRow>()
  private readonly lastUsed = new Map<string, number>()
  private failures = 0
  private running: Promise<unknown> | null = null

  constructor(private readonly parts: StateFlusherParts) {}

  /** Notes that a client key was used (written at the next flush, off the request path). */
  keyUsed(id: string, at: number): void {
    this.lastUsed.set(id, at)
  }

  /** Saves everything; resolves to the error when some of it could not be saved (it is kept for the next try). */
  flush(): Promise<unknown> {
    return (this.running ??= this.once().finally(() => (this.running = null)))
  }

  /** What waits to be saved, for the shutdown log. */
  get pending(): { usage_rows: number; last_used: number } {
    return { usage_rows: this.unsaved.size, last_used: this.lastUsed.size }
  }

  private async once(): Promise<unknown> {
    const { limits, usage, keys, others, logger, ledger } = this.parts
    for (const row of limits.takeDirty()) addUsageRow(this.unsaved, row)
    const batch = ledger?.taken()
    // The batch leaves the queue now, and comes back (added) if it cannot be saved.
    const usageBatch = new Map(this.unsaved)
    this.unsaved.clear()
    const touchBatch = new Map(this.lastUsed)
    this.lastUsed.clear()
    try {
      const cut = await usage.save([...usageBatch.values()])
      if (cut !== null && batch !== undefined) ledger?.saved(batch, cut)
      usageBatch.clear()
      await keys.touch(touchBatch)
      touchBatch.clear()
      for (const o of others) await o.flush()
      if (this.failures > 0) logger.info({ failures: this.failures }, 'key usage saved again')
      this.failures = 0
      return null
    } catch (err) {
      for (const row of usageBatch.values()) addUsageRow(this.unsaved, row)
      for (const [id, at] of touchBatch) if ((this.lastUsed.get(id) ?? 0) < at) this.lastUsed.set(id, at)
      this.failures++
      // Logged at powers of two, so a long outage does not flood the log.
      if ((this.failures & (this.failures - 1)) === 0) logger.error({ ...storageFields(err), failures: this.failures }, 'could not save key usage; will retry')
      return err
    }
  }
}

/** Adds a usage increment to the queue of those not yet saved (one row per key and period). */
function addUsageRow(queue: Map<string, UsageRow>, row: UsageRow): void {
  const k = `${row.keyId}\u0000${row.periodStart}`
  const held = queue.get(k)
  if (!held) return void queue.set(k, { ...row, usage: { ...row.usage } })
  sumInto(held.usage, row.usage)
}

/** A database error as log fields: SQLite's code and its own message. */
export function storageFields(err: unknown): { code?: string; err: string } {
  const failure = storageFailure(err)
  return failure ? { code: failure.code, err: failure.reason } : { err: (err as Error)?.message ?? String(err) }
}
