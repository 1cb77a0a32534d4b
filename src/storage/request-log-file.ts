import Libsql from 'libsql'
import { BUSY_TIMEOUT_MS } from './database.ts'
import { aggregate, COLUMNS, DAILY_UPSERT, HOURLY_UPSERT, insertRows, type RowValues } from './request-log-rows.ts'

// Rows per INSERT statement: each call into the addon has a fixed cost, so rows go in groups.
const ROWS_PER_INSERT = 50

/**
 * The request log's own connection to a database file, with its statements prepared once:
 * binding and stepping a prepared statement is a fraction of preparing SQL for every batch. Its
 * busy timeout is short: a database locked by another process makes a batch fail fast and wait
 * for the next flush.
 */
export function openLogFile(path: string) {
  const db = new Libsql(path, { timeout: BUSY_TIMEOUT_MS })
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
  // Per connection: WAL with NORMAL sync is safe against corruption and skips an fsync per batch.
  db.exec('PRAGMA synchronous = NORMAL')
  const insertOne = db.prepare(insertRows(1))
  const insertMany = db.prepare(insertRows(ROWS_PER_INSERT))
  const many: RowValues = new Array(ROWS_PER_INSERT * COLUMNS.length)
  const daily = db.prepare(DAILY_UPSERT)
  const hourly = db.prepare(HOURLY_UPSERT)
  // Prepared once too: exec() parses its SQL on every call. IMMEDIATE takes the write lock first, so
  // a batch never reads a snapshot it then cannot write on.
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  /** One transaction: the rows and the increments of their aggregates. */
  function write(rows: RowValues[]): void {
    begin.run()
    try {
      const sums = aggregate(rows)
      let i = 0
      for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
        for (let j = 0; j < ROWS_PER_INSERT; j++) {
          const row = rows[i + j]!
          for (let c = 0; c < COLUMNS.length; c++) many[j * COLUMNS.length + c] = row[c]!
        }
        insertMany.run(many)
      }
      for (; i < rows.length; i++) insertOne.run(rows[i]!)
      for (const d of sums.daily) daily.run(d)
      for (const h of sums.hourly) hourly.run(h)
      commit.run()
    } catch (err) {
      // On SQLITE_FULL or an I/O error SQLite has already rolled back: a ROLLBACK then fails with
      // "no transaction is active", which must not hide the error that matters.
      if (db.inTransaction) {
        try {
          db.exec('ROLLBACK')
        } catch {
          // the original error is the one to report
        }
      }
      throw err
    }
  }
  return {
    write,
    close: () => db.close(),
  }
}
