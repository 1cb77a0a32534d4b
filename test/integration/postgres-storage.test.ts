import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { openDatabase, type Database } from '../../src/storage/database.ts'
import { rawQuery } from '../../src/storage/engine.ts'
import { journal } from '../../src/storage/pg/migrations.ts'
import { createRequestWriter, type LogRow } from '../../src/storage/request-writer.ts'
import { storageRefusal } from '../../src/storage/storage-errors.ts'
import { createUsageQueries } from '../../src/storage/usage-queries.ts'
import { createUsageStore } from '../../src/storage/usage-store.ts'
import { startPostgres, withPostgres, type PgServer } from '../helpers/postgres.ts'

// What only PostgreSQL has to get right: instances migrating at once, the parameter limit, writers
// sharing rollup rows without deadlocks, characters its text cannot hold, and a server that goes away.

const run = withPostgres('postgres-storage')

const row = (over: Partial<LogRow> = {}): LogRow => ({
  ts: Date.now(), requestId: 'r', method: 'POST', endpoint: '/v1/chat/completions', status: 200, latencyMs: 120,
  usageSource: 'reported', model: 'm', provider: 'p', keyId: 'k1', promptTokens: 10, completionTokens: 5, costUsd: 0.01, ...over,
})

describe.skipIf(!run)('PostgreSQL storage', () => {
  let pg: PgServer
  const opened: Database[] = []
  const open = async (url: string) => {
    const d = await openDatabase(url)
    opened.push(d)
    return d
  }
  const openPg = async (url: string) => {
    const d = await open(url)
    if (d.engine !== 'postgres') throw new Error('expected PostgreSQL')
    return d
  }
  beforeAll(async () => {
    pg = await startPostgres()
  })
  afterAll(async () => {
    for (const d of opened) d.close()
    await Bun.sleep(50)
    await pg?.stop()
  })

  test('six instances starting together on an empty database migrate it once', async () => {
    const url = await pg.createDatabase('concurrent_start')
    const all = await Promise.all(Array.from({ length: 6 }, () => open(url)))
    const [bookkeeping] = await rawQuery(all[0]!.client, 'SELECT count(*) AS n FROM drizzle.__drizzle_migrations')
    expect(Number(bookkeeping!.n)).toBe(journal.entries.length)
    // And again later: nothing left to do.
    await open(url)
    const [again] = await rawQuery(all[0]!.client, 'SELECT count(*) AS n FROM drizzle.__drizzle_migrations')
    expect(Number(again!.n)).toBe(journal.entries.length)
  })

  test('a batch larger than one statement can bind (65,535 parameters) is written whole, in one transaction', async () => {
    const database = await open(await pg.createDatabase('big_batch'))
    const writer = createRequestWriter(database, { maxQueue: 20_000, batchSize: 5000, flushMs: 60_000, onError: (e) => { throw e }, onDropped: () => {} })
    for (let i = 0; i < 5000; i++) writer.enqueue(row({ requestId: `r${i}`, keyId: `k${i % 7}` }))
    await writer.stop()
    const [n] = await rawQuery(database.client, 'SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM requests')
    expect([Number(n!.n), Number(n!.d)]).toEqual([5000, 5000])
    const usage = await createUsageQueries(database).usage({ groupBy: [] })
    expect(usage[0]!.requests).toBe(5000)
  })

  test('two writers sharing every rollup row, batch after batch at once: no deadlock, nothing lost or counted twice', async () => {
    const url = await pg.createDatabase('two_writers')
    const [a, b] = [await open(url), await open(url)]
    const errors: unknown[] = []
    const writerOf = (d: Database) => createRequestWriter(d, { maxQueue: 100_000, batchSize: 200, flushMs: 60_000, onError: (e) => errors.push(e), onDropped: () => {} })
    const wa = writerOf(a)
    const wb = writerOf(b)
    const hour = Date.now() - (Date.now() % 3_600_000)
    // Each batch touches 40 daily rows and 4 hourly rows, in opposite orders in the two writers.
    const models = Array.from({ length: 10 }, (_, i) => `m${i}`)
    const keys = ['k1', 'k2', 'k3', 'k4']
    for (let round = 0; round < 25; round++) {
      for (let i = 0; i < 200; i++) {
        const m = models[i % 10]!
        const k = keys[(i >> 1) % 4]!
        wa.enqueue(row({ ts: hour + (i % 4) * 3_600_000 - 10 * 3_600_000, model: m, keyId: k }))
        wb.enqueue(row({ ts: hour + (3 - (i % 4)) * 3_600_000 - 10 * 3_600_000, model: models[9 - (i % 10)]!, keyId: keys[3 - ((i >> 1) % 4)]! }))
      }
      await Promise.all([wa.flush(), wb.flush()])
    }
    await Promise.all([wa.stop(), wb.stop()])
    expect(errors).toEqual([])
    const [totals] = await rawQuery(a.client, 'SELECT (SELECT count(*) FROM requests) AS raw, (SELECT sum(requests) FROM usage_daily) AS daily, (SELECT sum(requests) FROM usage_hourly) AS hourly')
    expect([Number(totals!.raw), Number(totals!.daily), Number(totals!.hourly)]).toEqual([10_000, 10_000, 10_000])
    // Quota usage from several instances at once: sorted too, and added up.
    const stores = [createUsageStore(a.background), createUsageStore(b.background)]
    const period = Date.UTC(2026, 0, 1)
    await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.save(keys.map((keyId, j) => ({ keyId: (i % 2 ? keys[3 - j] : keyId)!, periodStart: period, usage: { requests: 1, tokens: 10, costUsd: 0.001 } })))))
    const saved = await stores[0]!.since(period)
    expect(saved.map((r) => r.usage.requests)).toEqual([40, 40, 40, 40])
  })

  test('the pool holds at most pool_size connections, whatever runs at once', async () => {
    const url = await pg.createDatabase('pool')
    const database = await openDatabase(url, null, { poolSize: 2 })
    opened.push(database)
    const observer = new SQL({ url, max: 1 })
    try {
      const slow = Array.from({ length: 6 }, () => rawQuery(database.client, 'SELECT pg_sleep(0.3)'))
      await Bun.sleep(150)
      const [seen] = await observer.unsafe("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'sluice' AND datname = 'pool'")
      await Promise.all(slow)
      expect(Number(seen.n)).toBe(2)
    } finally {
      await observer.close()
    }
  })

  test('a NUL character in a body or an upstream message does not fail the batch', async () => {
    const database = await open(await pg.createDatabase('nul'))
    const writer = createRequestWriter(database, { maxQueue: 100, batchSize: 10, flushMs: 60_000, onError: (e) => { throw e }, onDropped: () => {} })
    writer.enqueue(row({ requestBody: 'a\u0000b', errorMessage: 'bad\u0000', status: 502 }))
    await writer.stop()
    const [stored] = await createUsageQueries(database).requests({ limit: 1 })
    expect(stored).toMatchObject({ requestBody: 'a\uFFFDb', errorMessage: 'bad\uFFFD' })
  })

  test('the server goes away: writes fail with the reason (health says so, admin writes are refused), rows wait, and are written once it is back', async () => {
    const url = await pg.createDatabase('outage')
    const database = await open(url)
    const errors: unknown[] = []
    const writer = createRequestWriter(database, { maxQueue: 10_000, batchSize: 10, flushMs: 60_000, onError: (e) => errors.push(e), onDropped: () => {} })
    writer.enqueue(row({ requestId: 'before' }))
    await writer.flush()
    pg.halt()
    try {
      for (let i = 0; i < 5; i++) writer.enqueue(row({ requestId: `during${i}` }))
      await writer.flush()
      expect(writer.depth).toBe(5)
      expect(errors.length).toBeGreaterThan(0)
      const report = database.health.report()
      expect(report.writable).toBe(false)
      expect(report.error).toMatch(/^(ERR_POSTGRES_|57P01|08)/)
      expect(await database.ping()).toBe(false)
      // An admin write would answer 503 with the reason.
      const refused = storageRefusal(errors.at(-1))
      expect(refused?.message).toMatch(/cannot be reached|cannot be written/)
    } finally {
      pg.resume()
    }
    let tries = 0
    while (writer.depth > 0 && tries++ < 50) {
      await writer.flush()
      if (writer.depth > 0) await Bun.sleep(100)
    }
    expect(writer.depth).toBe(0)
    expect(database.health.report()).toEqual({ writable: true })
    expect(await database.ping()).toBe(true)
    const rows = await createUsageQueries(database).requests({ limit: 10 })
    expect(rows.map((r) => r.requestId).sort()).toEqual(['before', 'during0', 'during1', 'during2', 'during3', 'during4'])
    await writer.stop()
  })

  test('a row lock held elsewhere: a background write tries once, briefly; a write someone waits for waits it out', async () => {
    const url = await pg.createDatabase('locked')
    const database = await openPg(url)
    const other = new SQL({ url, max: 1 })
    try {
      await database.client.unsafe("INSERT INTO settings (key, value, updated_at) VALUES ('held', '1', now())")
      let release: () => void = () => {}
      const released = new Promise<void>((resolve) => (release = resolve))
      let locked: () => void = () => {}
      const isLocked = new Promise<void>((resolve) => (locked = resolve))
      const holder = other.begin(async (tx) => {
        await tx.unsafe("UPDATE settings SET value = '2' WHERE key = 'held'")
        locked()
        await released
      })
      await isLocked
      const began = performance.now()
      const background = await database.backgroundClient.unsafe("UPDATE settings SET value = '3' WHERE key = 'held'").then(() => null, (e: unknown) => e)
      expect(storageRefusal(background)?.message).toContain('55P03')
      expect(performance.now() - began).toBeLessThan(1500)
      // The admin's write outlasts one lock timeout (2 s) by trying again, and lands once the lock goes.
      const admin = database.client.unsafe("UPDATE settings SET value = '4' WHERE key = 'held'")
      setTimeout(release, 3000)
      await admin
      await holder
      const [now] = await rawQuery(database.client, "SELECT value FROM settings WHERE key = 'held'")
      expect(now!.value).toBe('4')
      expect(database.health.report().writable).toBe(true)
    } finally {
      await other.close()
    }
  }, 20_000)
})
