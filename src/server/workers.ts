import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { tmpdir } from 'node:os'
import { bootstrapSecrets, type BootstrapResult } from '../bootstrap.ts'
import type { Config } from '../config/schema.ts'
import { createClientKeyStore } from '../storage/client-key-store.ts'
import { openDatabase } from '../storage/database.ts'
import { createSettingsStore } from '../storage/settings-store.ts'
import { sha256Hex } from '../lib/crypto.ts'

/** A worker that exits on its own is started again after this long (doubling up to a minute while it keeps failing). */
const RESTART_MS = 500
const MAX_RESTART_MS = 60_000
/** How long the primary waits for the workers to answer before it says the start failed. */
const READY_WITHIN_MS = 30_000

export const WORKER_ENV = 'SLUICE_WORKER'
export const LIMITS_FILE_ENV = 'SLUICE_LIMITS_FILE'

export interface WorkerPlan {
  /** The command line to start one worker with (this executable and its arguments). */
  command: string[]
  port: number
}

/** Where the workers of one machine keep their shared limits: next to an embedded database, else in the temp directory. */
export function limitsFilePath(config: Config, databaseFile: string | null): string {
  if (databaseFile) return join(dirname(databaseFile), 'sluice-limits.db')
  return join(tmpdir(), `sluice-limits-${sha256Hex(config.database.url).slice(0, 12)}.db`)
}

/** The command that runs this program again: the binary itself, or the runtime with its script. */
export function selfCommand(args: readonly string[]): string[] {
  const script = process.argv[1] ?? ''
  // A compiled binary's own script lives in its embedded file system.
  if (script.startsWith('/$bunfs/') || script.startsWith('B:/~BUN/')) return [process.execPath, ...args]
  return [process.execPath, ...process.execArgv, script, ...args]
}

/** A port for the workers to share when the config says 0 (any): picked once, here. */
function freePort(host: string): number {
  const probe = Bun.serve({ hostname: host, port: 0, fetch: () => new Response() })
  const port = probe.port!
  probe.stop(true)
  return port
}

/**
 * The primary of `server.workers`: runs the one-time jobs (migrations, first-start secrets) once,
 * starts the workers on one port (each connection goes to one of them), restarts one that dies,
 * passes SIGHUP on (each reloads) and SIGTERM/SIGINT (each drains), and exits when they all have.
 */
export async function runWorkers(config: Config, args: readonly string[], log: (line: string) => void, onReady: (url: string, created: BootstrapResult['created']) => void): Promise<number> {
  const database = await openDatabase(config.database.url, config.database.auth_token, { poolSize: config.database.pool_size })
  let boot: BootstrapResult
  let limitsFile: string
  try {
    boot = await bootstrapSecrets(config, createSettingsStore(database.db), createClientKeyStore(database.db, database.client))
    limitsFile = limitsFilePath(config, database.filePath)
  } finally {
    database.close()
  }
  // Last run's counts are stale: the workers seed the current periods from the database.
  for (const suffix of ['', '-wal', '-shm']) rmSync(limitsFile + suffix, { force: true })
  const port = config.server.port === 0 ? freePort(config.server.host) : config.server.port
  const command = selfCommand([...args, '--port', String(port)])
  const count = config.server.workers
  let stopping = false
  const procs: (ReturnType<typeof Bun.spawn> | null)[] = Array.from({ length: count }, () => null)
  const delays = Array.from({ length: count }, () => RESTART_MS)
  const listening = new Set<number>()
  const start = (index: number) => {
    const proc = Bun.spawn(command, {
      env: { ...process.env, [WORKER_ENV]: String(index), [LIMITS_FILE_ENV]: limitsFile },
      stdio: ['ignore', 'inherit', 'inherit'],
      // Each worker says when it listens (see workerReady).
      ipc: (message: unknown) => {
        if ((message as { ready?: unknown })?.ready === true) listening.add(index)
      },
    })
    procs[index] = proc
    const startedAt = Date.now()
    void proc.exited.then((code) => {
      procs[index] = null
      if (stopping) return
      // A worker that ran a while gets a quick restart; one that keeps dying waits longer each time.
      delays[index] = Date.now() - startedAt > MAX_RESTART_MS ? RESTART_MS : Math.min(MAX_RESTART_MS, delays[index]! * 2)
      log(JSON.stringify({ level: 'error', time: new Date().toISOString(), worker: index, exit_code: code, restart_in_ms: delays[index], msg: 'worker exited; starting it again' }))
      setTimeout(() => !stopping && start(index), delays[index])
    })
  }
  for (let i = 0; i < count; i++) start(i)

  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  const deadline = Date.now() + READY_WITHIN_MS
  // Ready when every worker listens (and the port answers).
  for (;;) {
    const ok = listening.size === count && (await fetch(`${url}/health`).then((r) => r.status < 500, () => false))
    if (ok) break
    if (Date.now() > deadline || procs.every((p) => p === null)) {
      stopping = true
      for (const p of procs) p?.kill('SIGTERM')
      log(`sluice: the workers did not start on ${url}`)
      return 1
    }
    await Bun.sleep(50)
  }
  onReady(url, boot.created)

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return
      stopping = true
      for (const p of procs) p?.kill(signal)
      void Promise.all(procs.map((p) => p?.exited)).then(() => resolve(0))
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => {
      for (const p of procs) p?.kill('SIGHUP')
    })
  })
}

/** A worker tells its primary it listens. */
export function workerReady(): void {
  process.send?.({ ready: true })
}
