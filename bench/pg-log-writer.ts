// The request-log writer on PostgreSQL against libSQL: rows per second, each engine for a fixed
// time, and two writers on one PostgreSQL database whose batches share every rollup row, with the
// rollups in primary-key order (as written) and unsorted (to count the deadlocks the order prevents).
//   bun bench/pg-log-writer.ts [--seconds 5] [--batch 100] [--pg postgres://...]
// Without --pg it starts a throwaway server (PostgreSQL must be installed; see test/helpers/postgres.ts).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'
import { openDatabase, type Database } from '../src/storage/database.ts'
import { pgLogBatch } from '../src/storage/pg/request-log-batch.ts'
import { rowValues } from '../src/storage/request-log-rows.ts'
import { createRequestWriter, type LogRow } from '../src/storage/request-writer.ts'
import { startPostgres, type PgServer } from '../test/helpers/postgres.ts'

const args = process.argv.slice(2)
const opt = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const SECONDS = Number(opt('--seconds', '5'))
const BATCH = Number(opt('--batch', '100'))
const KEYS = ['key_a', 'key_b', 'key_c', 'key_d', 'key_e']
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'deepseek-chat', 'claude-sonnet', 'llama-70b']

/** A row of a varied mix; `reverse` meets the same groups (key, model, hour) in the opposite order. */
const row = (i: number, reverse = false): LogRow => {
  const k = reverse ? 4 - (i % 5) : i % 5
  const m = reverse ? 4 - ((i >> 2) % 5) : (i >> 2) % 5
  const h = reverse ? 2 - (i % 3) : i % 3
  return {
    ts: Date.now() - (Date.now() % 3_600_000) - h * 3_600_000,
    requestId: `req_${i}`,
    keyId: KEYS[k]!,
    keyName: KEYS[k]!,
    clientIp: '10.0.0.1',
    method: 'POST',
    endpoint: '/v1/chat/completions',
    model: MODELS[m]!,
    provider: 'p',
    upstreamKey: 'fp_0123456789ab',
    status: i % 97 === 0 ? 502 : 200,
    latencyMs: 200 + (i % 5000),
    ttftMs: 80,
    promptTokens: 100 + (i % 900),
    completionTokens: 50 + (i % 400),
    costUsd: 0.0001 * (i % 50),
    usageSource: 'reported',
    stream: i % 2 === 0,
  }
}

/** Rows per second one writer keeps up for SECONDS: enqueue a batch, flush, again. */
async function throughput(database: Database): Promise<number> {
  const writer = createRequestWriter(database, { filePath: database.filePath ?? undefined, maxQueue: 1_000_000, batchSize: BATCH, flushMs: 3_600_000, onError: (e) => { throw e }, onDropped: () => {} })
  let written = 0
  const began = performance.now()
  const until = began + SECONDS * 1000
  while (performance.now() < until) {
    for (let i = 0; i < BATCH; i++) writer.enqueue(row(written + i))
    await writer.flush()
    written += BATCH
  }
  const rate = written / ((performance.now() - began) / 1000)
  await writer.stop()
  return rate
}

/** Two writers' batches at once, SECONDS long; the deadlocks PostgreSQL broke, and rows/s together. */
async function contention(url: string, unsorted: boolean): Promise<{ deadlocks: number; rowsPerS: number }> {
  ;(await openDatabase(url)).close() // the schema
  const pools = [new SQL({ url, max: 1 }), new SQL({ url, max: 1 })]
  const writers = pools.map((p) => pgLogBatch(p, { unsortedForBench: unsorted }))
  let deadlocks = 0
  let written = 0
  const began = performance.now()
  const until = began + SECONDS * 1000
  const write = async (w: number) => {
    // The two writers meet their rows' groups in opposite orders, as two instances' traffic may.
    const rows = Array.from({ length: BATCH }, (_, i) => rowValues(row(i, w === 1)))
    try {
      await writers[w]!(rows)
      written += rows.length
    } catch (err) {
      if ((err as { errno?: string }).errno !== '40P01') throw err
      deadlocks++
    }
  }
  // Batches start together, as two instances' flush timers line up now and then.
  while (performance.now() < until) await Promise.all([write(0), write(1)])
  const rowsPerS = written / ((performance.now() - began) / 1000)
  await Promise.all(pools.map((p) => p.close()))
  return { deadlocks, rowsPerS }
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-pgbench-'))
// Durable, as a server ships (fsync on, synchronous_commit on); the helper turns fsync off for tests.
let server = null as PgServer | null
const pgUrl = async (name: string): Promise<string> => {
  if (args.includes('--pg')) return opt('--pg', '')
  server ??= await startPostgres({ settings: { fsync: 'on' } })
  return server.createDatabase(name)
}
try {
  const results: Array<[string, string]> = []
  const sqlite = await openDatabase(`file:${join(dir, 'bench.db')}`)
  results.push(['libSQL file (prepared statements, WAL, synchronous=NORMAL)', (await throughput(sqlite)).toFixed(0)])
  sqlite.close()
  const durable = await pgUrl('bench_durable')
  const pg = await openDatabase(durable)
  results.push(['PostgreSQL (synchronous_commit=on)', (await throughput(pg)).toFixed(0)])
  pg.close()
  const lazyUrl = await pgUrl('bench_async')
  const admin = new SQL({ url: lazyUrl, max: 1 })
  await admin.unsafe(`ALTER DATABASE "${new URL(lazyUrl).pathname.slice(1)}" SET synchronous_commit = off`)
  await admin.close()
  const lazy = await openDatabase(lazyUrl)
  results.push(['PostgreSQL (synchronous_commit=off, like SQLite NORMAL)', (await throughput(lazy)).toFixed(0)])
  lazy.close()
  const sorted = await contention(await pgUrl('bench_sorted'), false)
  const unsorted = await contention(await pgUrl('bench_unsorted'), true)
  console.log(`request-log writer, batches of ${BATCH} rows, ${SECONDS} s each\n\n| engine | rows/s |\n|---|---:|`)
  for (const [name, rate] of results) console.log(`| ${name} | ${rate} |`)
  console.log(`\ntwo writers on one PostgreSQL database, every batch sharing rollup rows, ${SECONDS} s\n\n| rollup order | deadlocks | rows/s (both) |\n|---|---:|---:|`)
  console.log(`| primary key (as written) | ${sorted.deadlocks} | ${sorted.rowsPerS.toFixed(0)} |`)
  console.log(`| unsorted | ${unsorted.deadlocks} | ${unsorted.rowsPerS.toFixed(0)} |`)
} finally {
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
}
