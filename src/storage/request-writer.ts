import type { InStatement } from '@libsql/client'
import Libsql from 'libsql'
import type { Database } from './database.ts'
import { LATENCY_BUCKETS_MS, type requestLog } from './schema.ts'

export type LogRow = typeof requestLog.$inferInsert

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

const HOUR = 3_600_000

interface DailyRow {
  day: string
  keyId: string
  model: string
  provider: string
  sums: number[]
}

const COLUMNS: Array<[column: string, field: keyof LogRow]> = [
  ['ts', 'ts'], ['request_id', 'requestId'], ['key_id', 'keyId'], ['key_name', 'keyName'], ['client_ip', 'clientIp'],
  ['method', 'method'], ['endpoint', 'endpoint'], ['model', 'model'], ['alias', 'alias'], ['provider', 'provider'],
  ['upstream_model', 'upstreamModel'], ['upstream_key', 'upstreamKey'], ['status', 'status'], ['error_type', 'errorType'],
  ['error_message', 'errorMessage'], ['attempts', 'attempts'], ['stream', 'stream'], ['latency_ms', 'latencyMs'],
  ['ttft_ms', 'ttftMs'], ['prompt_tokens', 'promptTokens'], ['completion_tokens', 'completionTokens'],
  ['cached_tokens', 'cachedTokens'], ['reasoning_tokens', 'reasoningTokens'], ['cost_usd', 'costUsd'],
  ['usage_source', 'usageSource'], ['delivered_events', 'deliveredEvents'], ['request_body', 'requestBody'],
  ['response_body', 'responseBody'],
]
// The whole batch travels as one JSON parameter and SQLite unpacks it: a short statement to
// prepare, instead of one with a placeholder per value (preparing that cost more than the rest).
const INSERT_SQL = `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')})
  SELECT ${COLUMNS.map((_, i) => `value ->> ${i}`).join(', ')} FROM json_each(?)`

/** Writes a row's values into `into` from `at`, in column order. */
function fillArgs(r: LogRow, into: Array<string | number | null>, at: number): void {
  for (let c = 0; c < COLUMNS.length; c++) {
    const f = COLUMNS[c]![1]
    const v = r[f]
    into[at + c] = f === 'stream' ? (v ? 1 : 0) : v === undefined || v === null ? null : (v as string | number)
  }
}

function rowArgs(r: LogRow): Array<string | number | null> {
  const args = new Array<string | number | null>(COLUMNS.length)
  fillArgs(r, args, 0)
  return args
}

const DAILY_SUMS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'cost_usd']
const DAILY_UPSERT = `INSERT INTO usage_daily (day, key_id, model, provider, ${DAILY_SUMS.join(', ')}) VALUES (?, ?, ?, ?, ${DAILY_SUMS.map(() => '?').join(', ')})
  ON CONFLICT (day, key_id, model, provider) DO UPDATE SET ${DAILY_SUMS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`
const HOURLY_SUMS = ['requests', 'errors', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'latency_sum_ms', ...Array.from({ length: LATENCY_BUCKETS_MS.length + 1 }, (_, i) => `l${i}`)]
const HOURLY_UPSERT = `INSERT INTO usage_hourly (hour, ${HOURLY_SUMS.join(', ')}) VALUES (?, ${HOURLY_SUMS.map(() => '?').join(', ')})
  ON CONFLICT (hour) DO UPDATE SET ${HOURLY_SUMS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`

function bucketOf(latencyMs: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => latencyMs <= b)
  return i < 0 ? LATENCY_BUCKETS_MS.length : i
}

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

  // For a file database, a second connection with statements prepared once: binding and stepping
  // a prepared statement is a fraction of preparing SQL for every batch.
  const direct = options.filePath ? openDirect(options.filePath) : null

  async function writeBatch(rows: LogRow[]): Promise<void> {
    const daily = new Map<string, DailyRow>()
    const hourly = new Map<number, number[]>()
    for (const r of rows) {
      const error = r.status >= 400 ? 1 : 0
      const day = new Date(r.ts).toISOString().slice(0, 10)
      const dk = `${day}\u0000${r.keyId ?? ''}\u0000${r.model ?? ''}\u0000${r.provider ?? ''}`
      let d = daily.get(dk)
      if (!d) daily.set(dk, (d = { day, keyId: r.keyId ?? '', model: r.model ?? '', provider: r.provider ?? '', sums: [0, 0, 0, 0, 0, 0, 0] }))
      const sums = d.sums
      sums[0]! += 1
      sums[1]! += error
      sums[2]! += r.promptTokens ?? 0
      sums[3]! += r.completionTokens ?? 0
      sums[4]! += r.cachedTokens ?? 0
      sums[5]! += r.reasoningTokens ?? 0
      sums[6]! += r.costUsd ?? 0
      const hour = Math.floor(r.ts / HOUR) * HOUR
      let h = hourly.get(hour)
      if (!h) hourly.set(hour, (h = new Array(HOURLY_SUMS.length).fill(0)))
      h[0]! += 1
      h[1]! += error
      h[2]! += r.status === 429 ? 1 : 0
      h[3]! += r.promptTokens ?? 0
      h[4]! += r.completionTokens ?? 0
      h[5]! += r.costUsd ?? 0
      h[6]! += r.latencyMs
      h[7 + bucketOf(r.latencyMs)]! += 1
    }
    if (direct) return direct.write(rows, daily.values(), hourly)
    // Plain SQL through the client: building these with the query builder cost more CPU than
    // everything else a request does.
    const statements: InStatement[] = [{ sql: INSERT_SQL, args: [JSON.stringify(rows.map(rowArgs))] }]
    for (const d of daily.values()) statements.push({ sql: DAILY_UPSERT, args: [d.day, d.keyId, d.model, d.provider, ...d.sums] })
    for (const [hour, sums] of hourly) statements.push({ sql: HOURLY_UPSERT, args: [hour, ...sums] })
    await database.client.batch(statements, 'write')
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const rows = queue.slice(0, options.batchSize)
      try {
        await writeBatch(rows)
        queue = queue.slice(rows.length)
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
      direct?.close()
    },
    get depth() {
      return queue.length
    },
    get dropped() {
      return dropped
    },
  }
}

const insertRows = (n: number) =>
  `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')}) VALUES ${Array.from({ length: n }, () => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ')}`
// Rows per INSERT statement: each call into the addon has a fixed cost, so rows go in groups.
const ROWS_PER_INSERT = 50

/**
 * The writer's own connection to a database file. Its busy timeout is short: a database locked by
 * another process makes a batch fail fast and wait for the next flush, instead of blocking the
 * event loop (these calls are synchronous).
 */
function openDirect(path: string) {
  const db = new Libsql(path)
  db.exec('PRAGMA busy_timeout = 50')
  // Per connection: WAL with NORMAL sync is safe against corruption and skips an fsync per batch.
  db.exec('PRAGMA synchronous = NORMAL')
  const insertOne = db.prepare(insertRows(1))
  const insertMany = db.prepare(insertRows(ROWS_PER_INSERT))
  const many: Array<string | number | null> = new Array(ROWS_PER_INSERT * COLUMNS.length)
  const daily = db.prepare(DAILY_UPSERT)
  const hourly = db.prepare(HOURLY_UPSERT)
  const write = db.transaction((rows: LogRow[], days: Iterable<DailyRow>, hours: Map<number, number[]>) => {
    let i = 0
    for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) fillArgs(rows[i + j]!, many, j * COLUMNS.length)
      insertMany.run(many)
    }
    for (; i < rows.length; i++) insertOne.run(rowArgs(rows[i]!))
    for (const d of days) daily.run([d.day, d.keyId, d.model, d.provider, ...d.sums])
    for (const [hour, sums] of hours) hourly.run([hour, ...sums])
  })
  return {
    write(rows: LogRow[], days: Iterable<DailyRow>, hours: Map<number, number[]>): void {
      write(rows, days, hours)
    },
    close: () => db.close(),
  }
}
