// Seeds a request log of ten million rows (30 days, a few keys and models) through the real writer
// and times the queries the dashboard and the admin API run against it.
//   bun bench/usage-queries.ts [--rows N] [--db PATH]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { openSqlite } from '../src/storage/database.ts'
import { createRequestWriter, type LogRow } from '../src/storage/request-writer.ts'
import { createUsageQueries } from '../src/storage/usage-queries.ts'
import { machine } from './proc.ts'

const args = process.argv.slice(2)
const at = (name: string) => args.indexOf(name)
const ROWS = at('--rows') >= 0 ? Number(args[at('--rows') + 1]) : 10_000_000
const path = resolve(at('--db') >= 0 ? args[at('--db') + 1]! : `bench/results/usage-${ROWS}.db`)
const ROOT = resolve(import.meta.dir, '..')
const DAY = 86_400_000

const fresh = !existsSync(path)
const db = await openSqlite(`file:${path}`)
const now = Date.now()
if (fresh) {
  console.error(`seeding ${ROWS.toLocaleString()} rows into ${path}...`)
  const writer = createRequestWriter(db, { maxQueue: 20_000, batchSize: 5000, flushMs: 3_600_000, onError: (e) => console.error(e), onDropped: () => {} })
  const keys = ['key_a', 'key_b', 'key_c', 'key_d', 'key_e']
  const models = ['gpt-4o', 'gpt-4o-mini', 'deepseek-chat', 'claude-sonnet', 'llama-70b']
  const t0 = performance.now()
  for (let i = 0; i < ROWS; i++) {
    const row: LogRow = {
      ts: now - 30 * DAY + Math.floor((i / ROWS) * 30 * DAY),
      requestId: `req_${i}`,
      keyId: keys[i % keys.length]!,
      keyName: keys[i % keys.length]!,
      method: 'POST',
      endpoint: '/v1/chat/completions',
      model: models[(i >> 3) % models.length]!,
      provider: 'p',
      status: i % 97 === 0 ? 502 : i % 53 === 0 ? 429 : 200,
      latencyMs: 200 + (i % 5000),
      promptTokens: 100 + (i % 900),
      completionTokens: 50 + (i % 400),
      costUsd: 0.0001 * (i % 50),
      usageSource: 'reported',
      stream: i % 2 === 0,
    }
    writer.enqueue(row)
    if (writer.depth >= 5000) await writer.flush()
  }
  await writer.stop()
  console.error(`seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
}

const queries = createUsageQueries(db)
const today = new Date(now).toISOString().slice(0, 10)
const monthAgo = new Date(now - 30 * DAY).toISOString().slice(0, 10)
const cases: Array<[string, () => Promise<unknown>]> = [
  ['overview, last hour', () => queries.overview('1h', now)],
  ['overview, last day', () => queries.overview('24h', now)],
  ['overview, last 30 days', () => queries.overview('30d', now)],
  ['usage by day and key, 30 days', () => queries.usage({ from: monthAgo, to: today, groupBy: ['day', 'key'] })],
  ['usage by day and model, 30 days', () => queries.usage({ from: monthAgo, to: today, groupBy: ['day', 'model'] })],
  ['usage of one key by model', () => queries.usage({ keyId: 'key_c', groupBy: ['model'] })],
  ['requests, newest 50', () => queries.requests({ limit: 50 })],
  ['requests, errors, newest 50', () => queries.requests({ status: 'error', limit: 50 })],
  ['requests, 429s, newest 50', () => queries.requests({ status: 429, limit: 50 })],
  ['requests of one key, newest 50', () => queries.requests({ keyId: 'key_d', limit: 50 })],
  ['requests of one model, newest 50', () => queries.requests({ model: 'claude-sonnet', limit: 50 })],
  ['requests, page 20 of one key', () => queries.requests({ keyId: 'key_d', limit: 50, before: ROWS - 5000 })],
]
const count = Number((await db.client.execute('SELECT count(*) AS n FROM requests')).rows[0]!.n)
let table = `${count.toLocaleString()} rows in the request log\n\n| query | median (ms) | max (ms) |\n|---|---:|---:|\n`
const results: Record<string, { median: number; max: number }> = {}
for (const [name, run] of cases) {
  await run()
  const times: number[] = []
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    await run()
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  results[name] = { median: times[3]!, max: times[6]! }
  table += `| ${name} | ${times[3]!.toFixed(1)} | ${times[6]!.toFixed(1)} |\n`
}
console.log(table)
mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
writeFileSync(join(ROOT, 'bench/results/usage-queries.json'), JSON.stringify({ date: new Date().toISOString(), machine: machine(), rows: count, results }, null, 2))
db.close()
export {}
