// What the bench scripts share: starting the processes under test, wrk, the stream client.
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'

export const BUN = process.execPath
export const ROOT = resolve(import.meta.dir, '..')
export const KEY = 'sk-bench-client-key-0123456789'
/** Every process started here; killed when the bench exits. */
export const children: Subprocess[] = []

process.on('exit', () => children.forEach((c) => c.kill()))

export function ensureWrk(): void {
  if (Bun.which('wrk')) return
  console.error('installing wrk (Debian package)...')
  const r = Bun.spawnSync(['sh', '-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)'])
  if (r.exitCode !== 0 || !Bun.which('wrk')) throw new Error('wrk is needed: apt-get install wrk')
}

/** The line sluice prints on stderr once it listens; its first group is the base URL. */
export const SLUICE_READY = /ready: (http:\/\/[\d.]+:\d+)/

export interface BenchConfigVariant {
  /** The file's name in `dir`; `sluice.yaml` by default. */
  file?: string
  /** More fields of the client key (YAML flow mappings), e.g. `quota: { period: day, requests: 1000000000 }`. */
  key?: string
  /** More top-level YAML, e.g. a `redis:` or `database:` section. */
  extra?: string
}

/** The gateway's config for every bench: one client key with limits far above any load, the mock as provider. */
export function writeBenchConfig(dir: string, upstream: string, variant: BenchConfigVariant = {}): string {
  const path = join(dir, variant.file ?? 'sluice.yaml')
  writeFileSync(
    path,
    `admin: { token: bench-admin-token-0123456789 }
auth: { keys: [{ name: bench, key: ${KEY}, rpm: 100000000, tpm: 100000000000, max_concurrent: 100000${variant.key ? `, ${variant.key}` : ''} }] }
providers:
  - { name: mock, type: openai, base_url: "${upstream}/v1", keys: [bench-upstream-1, bench-upstream-2], models: [bench-json, bench-s50-d0, bench-s50-d2, bench-s50-d20] }
${variant.extra ?? ''}`,
  )
  return path
}

/** sluice from source with bench hooks preloaded (paths under bench/), on a fresh port. */
export function startSluiceFromSource(config: string, db: string, preloads: string[], env: Record<string, string>) {
  const cmd = [BUN, ...preloads.flatMap((p) => ['--preload', join(ROOT, p)]), 'src/main.ts', '--config', config, '--port', '0', '--db', `file:${db}`]
  return start(cmd, env, SLUICE_READY, 'stderr')
}

/** Starts a process that prints its port (or a ready line) and returns it once listening. */
export async function start(cmd: string[], env: Record<string, string>, ready: RegExp, from: 'stdout' | 'stderr' = 'stdout') {
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: from === 'stdout' ? 'pipe' : 'ignore', stderr: from === 'stderr' ? 'pipe' : 'inherit', cwd: ROOT })
  children.push(proc)
  const reader = (from === 'stdout' ? proc.stdout : proc.stderr)!.getReader()
  let text = ''
  const until = Date.now() + 20_000
  while (!ready.test(text)) {
    if (Date.now() > until) throw new Error(`${cmd.join(' ')} did not start: ${text}`)
    const { done, value } = await reader.read()
    if (done) throw new Error(`${cmd.join(' ')} exited: ${text}`)
    text += new TextDecoder().decode(value)
  }
  // Keep draining, so a full pipe never blocks the process.
  void (async () => {
    for (;;) if ((await reader.read()).done) break
  })()
  return { proc, match: ready.exec(text)! }
}

export interface WrkResult {
  rps: number
  p50: number
  p99: number
  requests: number
  errors: number
}

function toMs(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!
}

export function wrk(url: string, connections: number, seconds: number, body: string, header?: string): WrkResult {
  const r = Bun.spawnSync(
    ['wrk', `-t${Math.min(2, connections)}`, `-c${connections}`, `-d${seconds}s`, '--latency', '-s', join(ROOT, 'bench/post.lua'), url],
    { env: { ...process.env, WRK_BODY: body, WRK_KEY: KEY, ...(header ? { WRK_HEADER: header } : {}) } },
  )
  const out = r.stdout.toString()
  const pct = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)`).exec(out)
    return m ? toMs(m[1]!, m[2]!) : NaN
  }
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p99: pct('99'),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    errors: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?(\d+)/.exec(out)?.[1] ?? 0),
  }
}

/** Opens `total` streams, `concurrency` at a time, in a client process; stops at the deadline. */
export async function streams(url: string, model: string, concurrency: number, total: number, header?: string, deadlineSeconds = 120) {
  const proc = Bun.spawn([BUN, join(ROOT, 'bench/streams.ts'), url, KEY, model, String(concurrency), String(total), String(deadlineSeconds * 1000)], {
    stdout: 'pipe',
    env: { ...process.env, ...(header ? { STREAM_HEADER: header } : {}) },
  })
  const out = await new Response(proc.stdout).text()
  await proc.exited
  return JSON.parse(out) as { ttfb: number[]; total: number[]; errors: number; started: number }
}
