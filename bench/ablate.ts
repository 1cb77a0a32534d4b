// What the per-request record costs: sluice from source as a whole, then with one part taken out
// at a time (bench/ablate-hook.ts): the process log's writes, the request-log write, everything
// after the response (log line, metrics, request-log row); beside the bare passthrough. Interleaved rounds of wrk at 64 connections;
// CPU per request of each gateway process from /proc/PID/stat.
//   bun bench/ablate.ts [--rounds N] [--seconds N]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUN, ensureWrk, start, startSluiceFromSource, wrk, writeBenchConfig } from './harness.ts'
import { cpuMs } from './proc.ts'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const ROUNDS = option('--rounds', 6)
const SECONDS = option('--seconds', 4)
const CONNECTIONS = 64

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function main() {
  ensureWrk()
  const work = mkdtempSync(join(tmpdir(), 'sluice-ablate-'))
  try {
    const mock = await start([BUN, 'bench/mock-upstream.ts'], {}, /^(\d+)\n/)
    const upstream = `http://127.0.0.1:${mock.match[1]}`
    const config = writeBenchConfig(work, upstream)
    const gateway = (ablate: string) => startSluiceFromSource(config, join(work, `${ablate || 'full'}.db`), ['bench/ablate-hook.ts'], { ABLATE: ablate })
    const pass = await start([BUN, 'bench/passthrough.ts'], { UPSTREAM: upstream }, /^(\d+)\n/)
    const targets = [
      { name: 'sluice', started: await gateway('') },
      { name: 'sluice, no process-log writes', started: await gateway('write') },
      { name: 'sluice, no request-log write', started: await gateway('row') },
      { name: 'sluice, nothing after the response', started: await gateway('sink') },
      { name: 'bare passthrough', started: { proc: pass.proc, match: ['', `http://127.0.0.1:${pass.match[1]}`] } },
    ]
    const chat = JSON.stringify({ model: 'bench-json', messages: [{ role: 'user', content: 'Say something short.' }] })
    const results = targets.map((t) => ({ name: t.name, pid: t.started.proc.pid, url: `${t.started.match[1]}/v1/chat/completions`, cpu: [] as number[], rps: [] as number[], p99: [] as number[] }))
    for (const r of results) wrk(r.url, CONNECTIONS, 2, chat) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of results) {
        const before = cpuMs(r.pid)
        const w = wrk(r.url, CONNECTIONS, SECONDS, chat)
        if (w.errors > 0 || w.requests === 0) throw new Error(`${r.name}: ${w.errors} errors in ${w.requests} requests`)
        r.cpu.push(((cpuMs(r.pid) - before) * 1000) / w.requests)
        r.rps.push(w.rps)
        r.p99.push(w.p99)
      }
      console.error(`round ${round + 1}/${ROUNDS}: ${results.map((r) => `${r.cpu.at(-1)!.toFixed(1)} µs`).join(' | ')}`)
    }
    const floor = median(results.at(-1)!.cpu)
    console.log(`\nmedian of ${ROUNDS} interleaved rounds of ${SECONDS} s at ${CONNECTIONS} connections\n`)
    console.log('| target | CPU per request | vs passthrough | requests/s | p99 |')
    console.log('|---|---|---|---|---|')
    for (const r of results) {
      const cpu = median(r.cpu)
      console.log(`| ${r.name} | ${cpu.toFixed(1)} µs | ${(cpu / floor).toFixed(2)}x | ${median(r.rps).toFixed(0)} | ${median(r.p99).toFixed(2)} ms |`)
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  process.exit(0)
}

await main()
