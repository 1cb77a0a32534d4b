import type { InStatement } from '@libsql/client'
import type { Database } from './engine.ts'
import { pgLogBatch } from './pg/request-log-batch.ts'
import { openLogFile } from './request-log-file.ts'
import { aggregate, DAILY_UPSERT, HOURLY_UPSERT, INSERT_JSON_SQL, rowValues, type LogRow } from './request-log-rows.ts'
import { isBusy, storageFailure } from './storage-errors.ts'

export type { LogRow } from './request-log-rows.ts'

export interface WriterOptions {
  /** The database file, for the fast prepared-statement path; absent for a libSQL server and for PostgreSQL. */
  filePath?: string
  /** Records held at most; beyond that new ones are dropped and counted. */
  maxQueue: number
  batchSize: number
  flushMs: number
  /** How long stop() keeps trying a locked database before it gives the rest up; 5 s by default. */
  stopDeadlineMs?: number
  /** A batch failed; `failures` counts the failures in a row, so a long outage need not flood the log. */
  onError(err: unknown, failures: number): void
  /** A batch was written after failures. */
  onRecovered?(failures: number): void
  onDropped(count: number): void
  /** stop() could not write these rows: they are lost, and `reason` says why. */
  onLost?(count: number, reason: string): void
}

export interface RequestWriter {
  enqueue(row: LogRow): void
  /** Writes everything queued so far. */
  flush(): Promise<void>
  start(): void
  /** Stops the timer and writes what is left: no completed request is lost on shutdown unless the database fails. */
  stop(): Promise<void>
  readonly depth: number
  /** Dropped because the queue was full. */
  readonly dropped: number
  /** Given up at shutdown because the database could not be written. */
  readonly lost: number
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The request log's writer. Requests only push to a bounded in-memory queue; a timer writes it in
 * batches, each one transaction holding the raw rows and the increments of the daily and hourly
 * aggregates. A slow or locked database delays the flush, never a request: each try waits at most
 * the short busy timeout, and after a failure the next try waits for the timer.
 */
export function createRequestWriter(database: Database, options: WriterOptions): RequestWriter {
  let queue: LogRow[] = []
  let dropped = 0
  let lost = 0
  let failures = 0
  let lastError: unknown = null
  let timer: ReturnType<typeof setInterval> | null = null
  let running: Promise<void> | null = null
  // For a database file, a second connection with its statements prepared once; opened on the
  // first batch and tried again with every batch until it opens, so a failure is reported.
  let file: ReturnType<typeof openLogFile> | null = null
  let pg: ReturnType<typeof pgLogBatch> | null = null

  async function writeBatch(rows: LogRow[]): Promise<void> {
    const values = rows.map(rowValues)
    if (database.engine === 'postgres') return (pg ??= pgLogBatch(database.backgroundClient))(values)
    if (options.filePath) return (file ??= openLogFile(options.filePath)).write(values)
    // Plain SQL through the client: building these with the query builder cost more CPU than
    // everything else a request does.
    const { daily, hourly } = aggregate(values)
    const statements: InStatement[] = [{ sql: INSERT_JSON_SQL, args: [JSON.stringify(values)] }]
    for (const args of daily) statements.push({ sql: DAILY_UPSERT, args })
    for (const args of hourly) statements.push({ sql: HOURLY_UPSERT, args })
    await database.backgroundClient.batch(statements, 'write')
  }

  /** Writes the queue; false when a batch failed (its rows stay queued, the queue bound still applies). */
  async function drain(): Promise<boolean> {
    while (queue.length > 0) {
      const rows = queue.slice(0, options.batchSize)
      try {
        await writeBatch(rows)
      } catch (err) {
        failures++
        lastError = err
        database.health.failed(err)
        options.onError(err, failures)
        return false
      }
      queue = queue.slice(rows.length)
      database.health.succeeded()
      if (failures > 0) options.onRecovered?.(failures)
      failures = 0
      // A backlog goes a batch per turn of the event loop: requests run between batches
      // instead of waiting for all of it (a batch on the file path is synchronous).
      if (queue.length > 0) await nextTurn()
    }
    return true
  }

  // One drain at a time; a flush asked for while one runs shares it.
  const flush = (): Promise<void> =>
    (running ??= drain().then(
      () => {
        running = null
      },
      () => {
        running = null
      },
    ))

  return {
    enqueue(row) {
      if (queue.length >= options.maxQueue) {
        dropped++
        options.onDropped(dropped)
        return
      }
      queue.push(row)
      // While the database fails, only the timer tries again: a try per request would hold the
      // event loop for a busy timeout each time.
      if (queue.length >= options.batchSize && failures === 0) void flush()
    },
    flush,
    start() {
      timer ??= setInterval(() => void flush(), options.flushMs)
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = null
      if (running) await running
      // A lock held by another process is waited out for a while, with sleeps between tries; a
      // full, read-only or failing database is tried once more.
      const deadline = Date.now() + (options.stopDeadlineMs ?? 5000)
      let tries = 0
      while (queue.length > 0) {
        await flush()
        if (queue.length === 0 || ++tries > 1 && !isBusy(lastError) || Date.now() >= deadline) break
        await Bun.sleep(50)
      }
      if (queue.length > 0) {
        lost += queue.length
        options.onLost?.(queue.length, storageFailure(lastError)?.reason ?? String((lastError as Error)?.message ?? lastError))
        queue = []
      }
      file?.close()
      file = null
    },
    get depth() {
      return queue.length
    },
    get dropped() {
      return dropped
    },
    get lost() {
      return lost
    },
  }
}
