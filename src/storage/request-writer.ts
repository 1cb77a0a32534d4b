import type { InStatement } from '@libsql/client'
import type { Database } from './database.ts'
import { openLogFile } from './request-log-file.ts'
import { aggregate, DAILY_UPSERT, HOURLY_UPSERT, INSERT_JSON_SQL, rowValues, type LogRow } from './request-log-rows.ts'

export type { LogRow } from './request-log-rows.ts'

export interface WriterOptions {
  /** The database file, for the fast prepared-statement path; absent for a libSQL server. */
  filePath?: string
  /** Records held at most; beyond that new ones are dropped and counted. */
  maxQueue: number
  batchSize: number
  flushMs: number
  onError(err: unknown): void
  onDropped(count: number): void
}

export interface RequestWriter {
  enqueue(row: LogRow): void
  /** Writes everything queued so far. */
  flush(): Promise<void>
  start(): void
  /** Stops the timer and writes what is left: no completed request is lost on shutdown. */
  stop(): Promise<void>
  readonly depth: number
  readonly dropped: number
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The request log's writer. Requests only push to a bounded in-memory queue; a timer writes it in
 * batches, each one transaction holding the raw rows and the increments of the daily and hourly
 * aggregates. A slow or locked database delays the flush, never a request.
 */
export function createRequestWriter(database: Database, options: WriterOptions): RequestWriter {
  let queue: LogRow[] = []
  let dropped = 0
  let timer: ReturnType<typeof setInterval> | null = null
  let running: Promise<void> = Promise.resolve()
  // For a database file, a second connection with its statements prepared once; opened on the
  // first batch and tried again with every batch until it opens, so a failure is reported.
  let file: ReturnType<typeof openLogFile> | null = null

  async function writeBatch(rows: LogRow[]): Promise<void> {
    const values = rows.map(rowValues)
    if (options.filePath) return (file ??= openLogFile(options.filePath)).write(values)
    // Plain SQL through the client: building these with the query builder cost more CPU than
    // everything else a request does.
    const { daily, hourly } = aggregate(values)
    const statements: InStatement[] = [{ sql: INSERT_JSON_SQL, args: [JSON.stringify(values)] }]
    for (const args of daily) statements.push({ sql: DAILY_UPSERT, args })
    for (const args of hourly) statements.push({ sql: HOURLY_UPSERT, args })
    await database.client.batch(statements, 'write')
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const rows = queue.slice(0, options.batchSize)
      try {
        await writeBatch(rows)
        queue = queue.slice(rows.length)
        // A backlog goes a batch per turn of the event loop: requests run between batches
        // instead of waiting for all of it (a batch on the file path is synchronous).
        if (queue.length > 0) await nextTurn()
      } catch (err) {
        // The rows stay queued for the next flush; the queue bound still applies.
        options.onError(err)
        return
      }
    }
  }

  const flush = () => (running = running.then(drain))

  return {
    enqueue(row) {
      if (queue.length >= options.maxQueue) {
        dropped++
        options.onDropped(dropped)
        return
      }
      queue.push(row)
      if (queue.length >= options.batchSize) void flush()
    },
    flush,
    start() {
      timer ??= setInterval(() => void flush(), options.flushMs)
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = null
      await flush()
      file?.close()
      file = null
    },
    get depth() {
      return queue.length
    },
    get dropped() {
      return dropped
    },
  }
}
