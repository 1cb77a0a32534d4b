import { afterAll, describe, expect, test } from 'bun:test'
import Libsql from 'libsql'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGatewayMetrics } from '../../src/gateway-metrics.ts'
import { openSqlite } from '../../src/storage/database.ts'
import { createRequestWriter, type LogRow } from '../../src/storage/request-writer.ts'
import { isBusy, retryWhileBusy, storageFailure, storageRefusal } from '../../src/storage/storage-errors.ts'
import { createStorageHealth, LOCKED_AFTER_MS } from '../../src/storage/storage-health.ts'
import { createUpstreamKeyStore } from '../../src/storage/upstream-key-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'sluice-faults-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const row = (): LogRow => ({
  ts: Date.now(), requestId: 'r', method: 'POST', endpoint: '/v1/chat/completions', status: 200, latencyMs: 1,
  usageSource: 'reported', model: 'm', provider: 'p', keyId: 'k1', promptTokens: 1, completionTokens: 1, costUsd: 0,
})

/** What libSQL throws: the client's LibsqlError and the `libsql` package's SqliteError. */
const clientError = (code: string, extendedCode: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code, extendedCode })
const addonError = (code: string, message: string) => Object.assign(new Error(message), { code })

describe('storage failures', () => {
  test('are read from both kinds of libSQL error, down to the base code, with SQLite\'s words', () => {
    expect(storageFailure(clientError('SQLITE_BUSY', 'SQLITE_BUSY', 'database is locked'))).toEqual({ code: 'SQLITE_BUSY', reason: 'SQLITE_BUSY: database is locked' })
    expect(storageFailure(addonError('SQLITE_IOERR_WRITE', 'disk I/O error'))).toEqual({ code: 'SQLITE_IOERR', reason: 'SQLITE_IOERR_WRITE: disk I/O error' })
    expect(storageFailure(clientError('SQLITE_FULL', 'SQLITE_FULL', 'database or disk is full'))?.code).toBe('SQLITE_FULL')
    expect(storageFailure(addonError('SQLITE_READONLY_DBMOVED', 'attempt to write a readonly database'))?.code).toBe('SQLITE_READONLY')
    expect(storageFailure(clientError('SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed'))).toBeNull()
    expect(storageFailure(new Error('boom'))).toBeNull()
    expect(storageFailure(Object.assign(new Error('Failed query: insert ...'), { cause: addonError('SQLITE_BUSY', 'database is locked') }))?.code).toBe('SQLITE_BUSY')
    expect(storageRefusal(clientError('SQLITE_BUSY', 'SQLITE_BUSY', 'database is locked'))).toEqual({
      message: 'The database is locked by another process (SQLITE_BUSY: database is locked); try again shortly.',
      retryAfterMs: 1000,
    })
  })

  test('PostgreSQL failures (Bun\'s client) are read as the same kinds; the statement\'s own errors are not storage failures', () => {
    const pgError = (code: string, errno: string | undefined, message: string) => Object.assign(new Error(message), { name: 'PostgresError', code, errno })
    const server = (errno: string, message: string) => pgError('ERR_POSTGRES_SERVER_ERROR', errno, message)
    expect(storageFailure(server('55P03', 'canceling statement due to lock timeout'))).toEqual({ code: 'PG_BUSY', reason: '55P03: canceling statement due to lock timeout' })
    expect(isBusy(server('40P01', 'deadlock detected'))).toBe(true)
    expect(storageFailure(server('53100', 'could not extend file'))?.code).toBe('PG_FULL')
    expect(storageFailure(server('25006', 'cannot execute INSERT in a read-only transaction'))?.code).toBe('PG_READONLY')
    expect(storageFailure(server('57P01', 'terminating connection due to administrator command'))?.code).toBe('PG_UNAVAILABLE')
    expect(storageFailure(pgError('ERR_POSTGRES_CONNECTION_REFUSED', undefined, 'Failed to connect'))).toEqual({ code: 'PG_UNAVAILABLE', reason: 'ERR_POSTGRES_CONNECTION_REFUSED: Failed to connect' })
    expect(storageFailure(server('23505', 'duplicate key value violates unique constraint'))).toBeNull()
    expect(storageFailure(server('42P01', 'relation "x" does not exist'))).toBeNull()
    // Through drizzle's wrapper, as the stores see them.
    expect(storageFailure(Object.assign(new Error('Failed query: update ...'), { cause: server('55P03', 'lock timeout') }))?.code).toBe('PG_BUSY')
    expect(storageRefusal(pgError('ERR_POSTGRES_CONNECTION_CLOSED', undefined, 'Connection closed'))).toEqual({ message: 'The database server cannot be reached (ERR_POSTGRES_CONNECTION_CLOSED: Connection closed).' })
    const health = createStorageHealth(() => 0)
    health.failed(server('55P03', 'lock timeout'))
    expect(health.report()).toEqual({ writable: true })
  })

  test('a brief lock is contention; one that lasts, or a full or failing database, is reported until a write succeeds', () => {
    let now = 1_000_000
    const health = createStorageHealth(() => now)
    health.failed(clientError('SQLITE_BUSY', 'SQLITE_BUSY', 'database is locked'))
    expect(health.report()).toEqual({ writable: true })
    now += LOCKED_AFTER_MS
    expect(health.report()).toMatchObject({ writable: false, error: 'SQLITE_BUSY: database is locked' })
    health.succeeded()
    health.failed(addonError('SQLITE_FULL', 'database or disk is full'))
    expect(health.report()).toMatchObject({ writable: false, error: 'SQLITE_FULL: database or disk is full' })
    health.succeeded()
    expect(health.report()).toEqual({ writable: true })
  })

  test('a locked database is tried again with sleeps until the deadline; other errors are thrown at once', async () => {
    let calls = 0
    const ok = await retryWhileBusy(async () => {
      if (++calls < 3) throw clientError('SQLITE_BUSY', 'SQLITE_BUSY', 'database is locked')
      return 'written'
    }, 1000)
    expect([ok, calls]).toEqual(['written', 3])
    calls = 0
    await expect(retryWhileBusy(async () => {
      calls++
      throw addonError('SQLITE_FULL', 'database or disk is full')
    }, 1000)).rejects.toMatchObject({ code: 'SQLITE_FULL' })
    expect(calls).toBe(1)
  })

  test('a connection that met a lock is not left on an old snapshot: later reads see new rows, later writes succeed', async () => {
    const path = join(dir, 'snapshot.db')
    const database = await openSqlite(`file:${path}`)
    await database.client.execute('CREATE TABLE probe (n INTEGER)')
    const other = new Libsql(path)
    other.exec('PRAGMA busy_timeout = 1000')
    other.exec('BEGIN IMMEDIATE')
    await expect(database.backgroundClient.execute('INSERT INTO probe VALUES (1)')).rejects.toThrow(/locked/)
    await database.backgroundClient.execute('SELECT count(*) FROM probe')
    other.exec('ROLLBACK')
    other.exec('INSERT INTO probe VALUES (2)')
    const seen = await database.backgroundClient.execute('SELECT count(*) FROM probe')
    expect(Number(seen.rows[0]![0])).toBe(1)
    await database.backgroundClient.execute('INSERT INTO probe VALUES (3)')
    other.close()
    database.close()
  })

  test('the request log on a locked database: one try per flush, not per request; rows left at stop are counted as lost', async () => {
    const path = join(dir, 'locked.db')
    const database = await openSqlite(`file:${path}`)
    const errors: string[] = []
    const lost: Array<[number, string]> = []
    const writer = createRequestWriter(database, {
      filePath: path, maxQueue: 10_000, batchSize: 10, flushMs: 60_000, stopDeadlineMs: 200,
      onError: (err) => errors.push(String((err as { code?: string }).code)),
      onDropped: () => {},
      onLost: (count, reason) => lost.push([count, reason]),
    })
    const holder = new Libsql(path)
    holder.exec('BEGIN IMMEDIATE')
    for (let i = 0; i < 10; i++) writer.enqueue(row())
    await writer.flush()
    expect(errors).toEqual(['SQLITE_BUSY'])
    // Each try holds the loop for the busy timeout: after a failure, enqueues leave it to the timer.
    const began = performance.now()
    for (let i = 0; i < 500; i++) writer.enqueue(row())
    await Bun.sleep(0)
    expect(performance.now() - began).toBeLessThan(100)
    expect(errors).toHaveLength(1)
    await writer.stop()
    holder.exec('ROLLBACK')
    holder.close()
    expect(lost).toEqual([[510, 'SQLITE_BUSY: database is locked']])
    expect(writer.lost).toBe(510)
    const metrics = createGatewayMetrics({ keyStates: () => [], inflight: () => ({ requests: 0, streams: 0 }), queue: () => ({ depth: writer.depth, dropped: writer.dropped, lost: writer.lost }) })
    expect(metrics.render()).toContain('sluice_log_dropped_total{reason="storage_error"} 510')
    database.close()
  })

  test('a disabled key that could not be written stays pending and is written by the next flush', async () => {
    const path = join(dir, 'keys.db')
    const database = await openSqlite(`file:${path}`)
    const store = createUpstreamKeyStore(database.db, database.background)
    const holder = new Libsql(path)
    holder.exec('BEGIN IMMEDIATE')
    const began = performance.now()
    const failed = await store.setDisabled({ provider: 'p', fingerprint: 'f1', reason: 'revoked', disabledAt: 1 }).catch((err: unknown) => err)
    expect(storageFailure(failed)?.code).toBe('SQLITE_BUSY')
    // One short try: the request path waits for no lock.
    expect(performance.now() - began).toBeLessThan(200)
    expect(store.pending).toBe(1)
    expect((await store.listDisabled()).map((k) => k.fingerprint)).toEqual(['f1'])
    holder.exec('ROLLBACK')
    holder.close()
    await store.flush()
    expect(store.pending).toBe(0)
    const rows = await database.client.execute('SELECT fingerprint FROM disabled_upstream_keys')
    expect(rows.rows.map((r) => r[0])).toEqual(['f1'])
    database.close()
  })
})
