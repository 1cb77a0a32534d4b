import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * The gateway as a process of its own (`bun src/main.ts`, the same entry point as the binary), for
 * tests that measure it from outside: memory from /proc, the event loop from another process,
 * exit codes and what it prints.
 */
export interface ProcessGateway {
  url: string
  pid: number
  dir: string
  proc: ReturnType<typeof Bun.spawn>
  /** stdout and stderr so far (log lines and the banner). */
  output(): string
  /** Resident memory now and at its peak, in MiB, from /proc/PID/status. */
  memory(): { rssMiB: number; peakMiB: number }
  stop(): Promise<number>
}

export const PROCESS_CLIENT_KEY = 'sk-test-process-client-0123456789'
export const PROCESS_ADMIN_TOKEN = 'admin-token-for-process-tests-0123456789'

const ENTRY = resolve(import.meta.dir, '../../src/main.ts')

export interface ProcessGatewayOptions {
  env?: Record<string, string>
  dir?: string
  /** The config file's name in `dir` (several gateways sharing a directory and its database). */
  configFile?: string
  /** The database URL (`--db`); `test.db` in `dir` by default. */
  db?: string
}

/** Starts `sluice --config <file>` on 127.0.0.1, port 0, with a temporary database (`test.db` in `dir`, unless `db` names one). */
export async function startProcessGateway(config: object, options: ProcessGatewayOptions = {}): Promise<ProcessGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'sluice-proc-'))
  const path = join(dir, options.configFile ?? 'sluice.json')
  writeFileSync(path, JSON.stringify(config))
  const proc = Bun.spawn([process.execPath, '--max-http-header-size=262144', ENTRY, '--config', path, '--port', '0', '--host', '127.0.0.1', '--db', options.db ?? `file:${join(dir, 'test.db')}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, SLUICE_ADMIN_TOKEN: PROCESS_ADMIN_TOKEN, ...options.env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let text = ''
  const decoder = new TextDecoder()
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk)
  }
  void collect(proc.stdout as ReadableStream<Uint8Array>)
  void collect(proc.stderr as ReadableStream<Uint8Array>)
  const deadline = Date.now() + 20_000
  let url: string | undefined
  while (!url && Date.now() < deadline) {
    url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1]
    if (!url) {
      if (proc.exitCode !== null) break
      await Bun.sleep(20)
    }
  }
  if (!url) {
    proc.kill('SIGKILL')
    throw new Error(`the gateway did not start:\n${text}`)
  }
  return {
    url,
    pid: proc.pid,
    dir,
    proc,
    output: () => text,
    memory: () => processMemory(proc.pid),
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        await proc.exited
        clearTimeout(timer)
      }
      if (!options.dir) rmSync(dir, { recursive: true, force: true })
      return proc.exitCode ?? -1
    },
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
export function processMemory(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 }
}

/** The usual config for a process gateway: one upstream, one client key. */
export function processConfig(upstreamBaseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    auth: { keys: [{ name: 'tester', key: PROCESS_CLIENT_KEY }] },
    providers: [{ name: 'up', type: 'openai', base_url: upstreamBaseUrl, keys: ['sk-upstream-process-aaaa1111'], models: ['m'] }],
    ...extra,
  }
}
