// Micro-benchmark of the per-request record: log line, metrics and request-log row, with the
// writer's real database path. Pure CPU in one process, so it repeats well:
//   bun bench/sink-micro.ts [--no-db]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { RequestTrace } from '../src/gateway/record.ts'
import { createGatewayMetrics } from '../src/gateway-metrics.ts'
import { createLogging, secretScrubber } from '../src/observability/logger.ts'
import { createRequestSink } from '../src/request-sink.ts'
import { openDatabase } from '../src/storage/database.ts'
import { createRequestWriter } from '../src/storage/request-writer.ts'

const dir = mkdtempSync(join(tmpdir(), 'sluice-sink-'))
const config = loadConfig({}, { OPENAI_API_KEY: 'sk-bench-upstream-key' }, dir)
const db = await openDatabase(`file:${join(dir, 'sink.db')}`)
const writer = createRequestWriter(db, { filePath: db.filePath!, maxQueue: 1_000_000, batchSize: 500, flushMs: 3_600_000, onError: console.error, onDropped: () => {} })
let bytes = 0
const secrets = new Set(['sk-bench-upstream-key', 'sk-bench-client-key-123', 'sluice-admin-0123456789'])
const { line } = createLogging({ level: 'info', pretty: false, destination: { write: (s: string) => void (bytes += s.length) }, scrub: secretScrubber(() => secrets) })
const metrics = createGatewayMetrics({ keyStates: () => [], inflight: () => ({ requests: 0, streams: 0 }), queue: () => ({ depth: 0, dropped: 0 }) })
const noDb = process.argv.includes('--no-db')
const sink = createRequestSink({
  config: () => config,
  line,
  writer: noDb ? { ...writer, enqueue: () => {} } : writer,
  metrics,
  scrub: secretScrubber(() => secrets),
  publish: () => {},
})

function once(i: number) {
  const trace = new RequestTrace(
    { requestId: `req_${i}`, startedAt: Date.now(), method: 'POST', path: '/v1/chat/completions', clientIp: '127.0.0.1' },
    (r, latency, t) => sink(r, latency, t),
    Date.now,
  )
  Object.assign(trace.record, {
    clientKey: 'bench', clientKeyId: 'key_bench', model: 'bench-json', provider: 'mock', upstreamModel: 'bench-json',
    upstreamKey: 'fp_0123456789', attempts: 1, stream: false, requestBytes: 96, ttfbMs: 1,
    usage: { promptTokens: 12, completionTokens: 50, cachedTokens: 0, reasoningTokens: 0 }, costUsd: 0,
  })
  trace.complete({ status: 200, outcome: 'ok' })
}

const N = 200_000
for (let i = 0; i < 20_000; i++) once(i)
await writer.flush()
const t0 = performance.now()
for (let i = 0; i < N; i++) {
  once(i)
  if (i % 500 === 499) await writer.flush()
}
await writer.flush()
const us = ((performance.now() - t0) * 1000) / N
console.log(`${us.toFixed(2)} µs per request record${noDb ? ' (no database)' : ''}`)
await writer.stop()
db.close()
rmSync(dir, { recursive: true, force: true })
