import type { SQL } from 'bun'
import { aggregate, COLUMNS, DAILY_SUMS, HOURLY_SUMS, type RowValues } from '../request-log-rows.ts'
import { statementChunks } from './bind-limit.ts'

const STREAM = COLUMNS.findIndex(([, f]) => f === 'stream')

/** `INSERT ... VALUES` of `rows` rows of `width` placeholders ($1, $2, ... across the rows), then `tail`. */
function insertSql(head: string, rows: number, width: number, tail = ''): string {
  const groups: string[] = []
  for (let r = 0, n = 1; r < rows; r++) {
    const one: string[] = []
    for (let c = 0; c < width; c++) one.push(`$${n++}`)
    groups.push(`(${one.join(', ')})`)
  }
  return `${head} VALUES ${groups.join(', ')}${tail}`
}

const REQUESTS = `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')})`
const DAILY = `INSERT INTO usage_daily (day, key_id, model, provider, ${DAILY_SUMS.join(', ')})`
const DAILY_TAIL = ` ON CONFLICT (day, key_id, model, provider) DO UPDATE SET ${DAILY_SUMS.map((c) => `${c} = usage_daily.${c} + excluded.${c}`).join(', ')}`
const HOURLY = `INSERT INTO usage_hourly (hour, ${HOURLY_SUMS.join(', ')})`
const HOURLY_TAIL = ` ON CONFLICT (hour) DO UPDATE SET ${HOURLY_SUMS.map((c) => `${c} = usage_hourly.${c} + excluded.${c}`).join(', ')}`

/** PostgreSQL text holds no NUL character: one in a body or an upstream's message would fail the whole batch, again and again. */
const clean = (v: string | number | boolean | null) => (typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v)

/** Primary-key order of the rollup rows: every writer takes their row locks in the same order, so none deadlock. */
const byKey = (a: RowValues, b: RowValues, width: number): number => {
  for (let i = 0; i < width; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * The request log's batch on PostgreSQL: in one transaction, the raw rows (multi-row inserts, as
 * many rows per statement as the parameter limit allows) and the increments of the daily and hourly
 * rollups, sorted by primary key. Unsorted, two instances' batches that share rollup rows took
 * their locks in different orders and deadlocked.
 */
export function pgLogBatch(sql: SQL, options: { unsortedForBench?: boolean } = {}): (rows: RowValues[]) => Promise<void> {
  return async (rows) => {
    const { daily, hourly } = aggregate(rows)
    // Unsorted only in bench/pg-log-writer.ts, which measures the deadlocks the order prevents.
    if (!options.unsortedForBench) {
      daily.sort((a, b) => byKey(a, b, 4))
      hourly.sort((a, b) => byKey(a, b, 1))
    }
    const values = rows.map((r) => r.map((v, i) => (i === STREAM ? v === 1 : clean(v))))
    await sql.begin(async (tx) => {
      for (const chunk of statementChunks(values, COLUMNS.length)) await tx.unsafe(insertSql(REQUESTS, chunk.length, COLUMNS.length), chunk.flat())
      for (const chunk of statementChunks(daily, 4 + DAILY_SUMS.length)) await tx.unsafe(insertSql(DAILY, chunk.length, 4 + DAILY_SUMS.length, DAILY_TAIL), chunk.flat())
      for (const chunk of statementChunks(hourly, 1 + HOURLY_SUMS.length)) await tx.unsafe(insertSql(HOURLY, chunk.length, 1 + HOURLY_SUMS.length, HOURLY_TAIL), chunk.flat())
    })
  }
}
