import { SQL } from 'bun'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A throwaway PostgreSQL server for tests, started without systemd: `initdb` into a temporary
 * directory and `pg_ctl start` on a free 127.0.0.1 port, as the `postgres` user when the tests run
 * as root (PostgreSQL refuses to run as root). Passwords are checked (scram-sha-256 over TCP), so
 * tests connect the way a deployment does.
 */
export interface PgServer {
  port: number
  /** The superuser's password, in every URL this server hands out. */
  password: string
  /** A new, empty database; its URL (`postgres://postgres:<password>@127.0.0.1:<port>/<name>`). */
  createDatabase(name: string): Promise<string>
  /** The server's own log, for a failing test's message. */
  log(): string
  /** Stops the server, keeping its data, as an outage would (fast shutdown: connections are cut). */
  halt(): void
  /** Starts it again on the same port and data. */
  resume(): void
  stop(): Promise<void>
}

/** The directory of `initdb` and `pg_ctl`, the newest installed version first; null when PostgreSQL is absent. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] ? join(root, versions[0], 'bin') : null
}

/** Why the PostgreSQL variants of a test file cannot run here, or null when they can. */
export function postgresUnavailable(): string | null {
  if (!postgresBin()) return 'PostgreSQL is not installed (Debian: apt-get install postgresql)'
  if (process.getuid?.() === 0 && !userId('postgres')) return 'running as root and there is no postgres user to run the server as'
  return null
}

/**
 * Says once, visibly, that the PostgreSQL variants of `file` are skipped and why; returns whether
 * they run. Use with `describe.skipIf(!withPostgres('name'))`.
 */
export function withPostgres(file: string): boolean {
  const reason = postgresUnavailable()
  if (reason) console.log(`${file}: PostgreSQL variants skipped: ${reason}`)
  return reason === null
}

function userId(name: string): { uid: number; gid: number } | null {
  const run = (flag: string) => Bun.spawnSync(['id', flag, name], { stdout: 'pipe', stderr: 'ignore' })
  const uid = run('-u')
  const gid = run('-g')
  if (uid.exitCode !== 0 || gid.exitCode !== 0) return null
  return { uid: Number(uid.stdout.toString().trim()), gid: Number(gid.stdout.toString().trim()) }
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

export interface StartPostgresOptions {
  /** Extra server settings (`-c name=value`), e.g. `{ synchronous_commit: 'off' }`. */
  settings?: Record<string, string | number>
}

/** Starts a fresh PostgreSQL server; throws (with its log) when it cannot. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgServer> {
  const bin = postgresBin()
  if (!bin) throw new Error('PostgreSQL is not installed')
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? userId('postgres') : null
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'))
  const data = join(dir, 'data')
  const password = 'pg-test-' + crypto.randomUUID().slice(0, 8)
  writeFileSync(join(dir, 'pw'), password)
  if (owner) chownSync(dir, owner.uid, owner.gid)
  if (owner) chownSync(join(dir, 'pw'), owner.uid, owner.gid)
  const run = (args: string[]) => {
    const line = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
    const argv = owner ? ['su', 'postgres', '-s', '/bin/sh', '-c', line] : ['/bin/sh', '-c', line]
    const result = Bun.spawnSync(argv, { stdout: 'pipe', stderr: 'pipe', cwd: dir })
    if (result.exitCode !== 0) throw new Error(`${args[0]} failed: ${result.stderr.toString()}${result.stdout.toString()}`)
  }
  run([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--pwfile', join(dir, 'pw'), '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync', '--locale=C'])
  const port = await freePort()
  // The test machine's own durability is beside the point; what matters is what the gateway asks for.
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: dir, max_connections: 100, fsync: 'off', ...options.settings }
  const flags = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(' ')
  const logFile = join(dir, 'server.log')
  const start = () => run([join(bin, 'pg_ctl'), '-D', data, '-o', flags, '-l', logFile, '-w', '-t', '30', 'start'])
  const halt = () => run([join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop'])
  start()
  const log = () => (existsSync(logFile) ? Bun.spawnSync(['cat', logFile]).stdout.toString() : '')
  const admin = new SQL({ url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`, max: 1 })
  let stopped = false
  // A test run that ends without afterAll (a crash, a timeout) must not leave a server behind.
  process.once('exit', () => {
    if (stopped) return
    try {
      run([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'])
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    port,
    password,
    async createDatabase(name) {
      await admin.unsafe(`CREATE DATABASE "${name.replace(/"/g, '')}"`)
      return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`
    },
    log,
    halt,
    resume: start,
    async stop() {
      if (stopped) return
      stopped = true
      await admin.close().catch(() => {})
      try {
        if (existsSync(join(data, 'postmaster.pid'))) halt()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
