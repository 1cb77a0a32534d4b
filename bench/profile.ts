// Where the gateway's main thread spends its time under load, by function: sluice from source
// against the bench's mock upstream, driven by wrk, sampled by JavaScriptCore's own profiler.
// (`bun --cpu-prof` misattributes JIT-compiled frames under Bun: its profile blamed Elysia's
// route compiler, which runs once, for an eighth of the samples.)
//   bun bench/profile.ts [--stream] [--seconds N] [--top N] [--save FILE] [--ablate write|row|sink]
// (--ablate takes a part out as bench/ablate.ts does, to see the rest more clearly.)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUN, KEY, ROOT, ensureWrk, start, startSluiceFromSource, streams, wrk, writeBenchConfig } from './harness.ts'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const STREAM = args.includes('--stream')
const SECONDS = option('--seconds', 4)
const TOP = option('--top', 30)

interface Frame { name: string; sourceURL?: string; line: number; category: string }
interface Trace { frames: Frame[] }

const where = (f: Frame) => {
  if (!f.name && !f.sourceURL) return '(native code, outside JavaScript)'
  const file = f.sourceURL ? f.sourceURL.replace(`${ROOT}/`, '').replace(/^.*node_modules\//, '') : ''
  return `${f.name || '(anonymous)'}${file ? ` ${file}` : ''}`
}

function report(traces: Trace[]): string {
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const tiers = new Map<string, number>()
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)
  for (const { frames } of traces) {
    const top = frames[0]
    if (!top) continue
    bump(tiers, top.category)
    bump(self, top.line < 4e9 ? `${where(top)}:${top.line}` : where(top))
    for (const k of new Set(frames.map(where))) bump(inclusive, k)
  }
  const n = traces.length
  const table = (title: string, m: Map<string, number>) =>
    `${title}\n${[...m].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([k, v]) => `${((100 * v) / n).toFixed(1).padStart(5)}%  ${k}`).join('\n')}\n`
  return `${n} samples of the main thread\n\n${table('by tier', tiers)}\n${table('self', self)}\n${table('inclusive', inclusive)}`
}

async function main() {
  ensureWrk()
  const work = mkdtempSync(join(tmpdir(), 'sluice-profile-'))
  try {
    const mock = await start([BUN, 'bench/mock-upstream.ts'], {}, /^(\d+)\n/)
    const config = writeBenchConfig(work, `http://127.0.0.1:${mock.match[1]}`)
    const out = join(work, 'profile.json')
    const sluice = await startSluiceFromSource(config, join(work, 'p.db'), ['bench/profile-hook.ts', 'bench/ablate-hook.ts'], {
      PROFILE_OUT: out,
      PROFILE_MS: String(SECONDS * 1000),
      ABLATE: args.includes('--ablate') ? args[args.indexOf('--ablate') + 1]! : '',
    })
    const url = `${sluice.match[1]}/v1/chat/completions`
    const chat = JSON.stringify({ model: 'bench-json', messages: [{ role: 'user', content: 'Say something short.' }] })
    // Warm up first: the profile should show optimised code, not the JIT getting there.
    wrk(url, 64, 3, chat)
    if (STREAM) await streams(url, 'bench-s50-d0', 16, 2000)
    // The load runs in its own process while this one signals the gateway to start sampling.
    const load = STREAM
      ? streams(url, 'bench-s50-d0', 16, 1_000_000, undefined, SECONDS + 1)
      : Bun.spawn(['wrk', '-t2', '-c64', `-d${SECONDS + 1}s`, '-s', join(ROOT, 'bench/post.lua'), url], {
          env: { ...process.env, WRK_BODY: chat, WRK_KEY: KEY },
          stdout: 'ignore',
        }).exited
    await Bun.sleep(500)
    sluice.proc.kill('SIGUSR2')
    await load
    for (let i = 0; i < 50 && !existsSync(out); i++) await Bun.sleep(100)
    const raw = readFileSync(out, 'utf8')
    if (args.includes('--save')) writeFileSync(args[args.indexOf('--save') + 1]!, raw)
    console.log(report(JSON.parse(raw).traces as Trace[]))
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  process.exit(0)
}

await main()
