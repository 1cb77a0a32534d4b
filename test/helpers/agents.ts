import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * Real coding agents from npm (Claude Code, Codex CLI, Gemini CLI), installed once into a cache outside
 * node_modules and run against the compiled gateway, for the end-to-end tests in test/e2e.
 */

export interface AgentSpec {
  pkg: string
  version: string
  bin: string
}

/** Pinned: a new release changes the requests the agents send, so updates are deliberate. */
export const CLAUDE_CODE: AgentSpec = { pkg: '@anthropic-ai/claude-code', version: '2.1.332', bin: 'claude' }
export const CODEX: AgentSpec = { pkg: '@openai/codex', version: '0.171.0', bin: 'codex' }
export const GEMINI_CLI: AgentSpec = { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' }

/**
 * The model Claude Code 2.1.332 asks for when no --model is given. The gateway has no alias
 * patterns (yet), so the tests route this exact name; a different name shows up in the
 * gateway's request log, which the tests print on failure.
 */
export const CLAUDE_CODE_DEFAULT_MODEL = 'claude-opus-5-5'

export const REPO_ROOT = resolve(import.meta.dir, '../..')
export const AGENT_CACHE = process.env.SLUICE_AGENT_CACHE ?? join(REPO_ROOT, '.cache', 'agents')
const INSTALL_TIMEOUT_MS = Number(process.env.SLUICE_AGENT_INSTALL_TIMEOUT_MS ?? 300_000)

export interface InstalledAgent {
  /** The executable (node_modules/.bin/<bin> inside the cache entry). */
  path: string
  /** Whether this call installed it (false: it was already in the cache). */
  installed: boolean
  ms: number
}

/**
 * npm sets these for scripts it runs (`npm test`); a nested `npm install` would read them and
 * install into the project instead of the cache entry.
 */
function npmEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (/^npm_(package_|lifecycle_|command$|config_(local_prefix|prefix|global_prefix|global)$)/i.test(k)) continue
    env[k] = v
  }
  return env
}

/**
 * Installs `pkg@version` into `<cache>/<pkg>@<version>` with npm unless it is there already, and
 * returns its executable. The install goes to a fresh directory renamed into place when complete,
 * so an interrupted install never leaves a half-installed entry, and two processes installing at
 * once both end up with a complete one. Throws (never skips) when npm fails or times out.
 */
export async function installAgent(spec: AgentSpec, timeoutMs = INSTALL_TIMEOUT_MS): Promise<InstalledAgent> {
  const started = performance.now()
  const dir = join(AGENT_CACHE, `${spec.pkg.replace('/', '+')}@${spec.version}`)
  const bin = (root: string) => join(root, 'node_modules', '.bin', spec.bin)
  const marker = (root: string) => join(root, '.installed')
  if (existsSync(marker(dir)) && existsSync(bin(dir))) return { path: bin(dir), installed: false, ms: performance.now() - started }

  mkdirSync(AGENT_CACHE, { recursive: true })
  const work = mkdtempSync(join(AGENT_CACHE, `.install-${spec.bin}-`))
  try {
    chmodSync(work, 0o755)
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: `agent-${spec.bin}`, private: true }))
    const args = ['npm', 'install', '--prefix', work, '--no-audit', '--no-fund', '--no-save', '--no-package-lock', '--loglevel=error', `${spec.pkg}@${spec.version}`]
    const proc = Bun.spawn(args, { cwd: work, env: npmEnv(), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    if (code !== 0 || !existsSync(bin(work))) {
      const why = proc.signalCode ? `killed (${proc.signalCode}) after ${timeoutMs} ms` : `exit code ${code}`
      throw new Error(`could not install ${spec.pkg}@${spec.version} with npm (${why}); \`${args.join(' ')}\` printed:\n${out}\n${err}`.trimEnd())
    }
    const version = await runAgent([bin(work), '--version'], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work }, timeoutMs: 60_000 })
    if (version.exitCode !== 0 || !version.stdout.includes(spec.version)) {
      throw new Error(`${spec.pkg}@${spec.version} installed but \`${spec.bin} --version\` gave exit ${version.exitCode}:\n${version.stdout}\n${version.stderr}`)
    }
    writeFileSync(marker(work), `${spec.pkg}@${spec.version}\n`)
    rmSync(dir, { recursive: true, force: true }) // a leftover without its marker
    try {
      renameSync(work, dir)
    } catch (err) {
      // Another process put a complete entry there first: use it.
      if (!existsSync(marker(dir))) throw err
    }
    return { path: bin(dir), installed: true, ms: performance.now() - started }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export interface AgentRun {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  ms: number
  timedOut: boolean
}

/** Runs a command to its end (or SIGKILL at timeoutMs), with stdin closed, collecting its output. */
export async function runAgent(cmd: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<AgentRun> {
  const started = performance.now()
  const proc = Bun.spawn(cmd, { cwd: options.cwd, env: options.env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    proc.kill('SIGKILL')
  }, options.timeoutMs)
  const out = { stdout: '', stderr: '' }
  const decoder = () => new TextDecoder()
  const collect = async (stream: ReadableStream<Uint8Array>, key: 'stdout' | 'stderr') => {
    const d = decoder()
    for await (const chunk of stream) out[key] += d.decode(chunk, { stream: true })
  }
  const reading = Promise.all([collect(proc.stdout as ReadableStream<Uint8Array>, 'stdout'), collect(proc.stderr as ReadableStream<Uint8Array>, 'stderr')])
  await proc.exited
  clearTimeout(timer)
  // A grandchild that kept the pipes open must not hold the test: give the readers a moment.
  await Promise.race([reading, Bun.sleep(2000)])
  return { exitCode: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout: out.stdout, stderr: out.stderr, ms: performance.now() - started, timedOut }
}

/**
 * An environment that keeps an agent on 127.0.0.1: every other host goes through `proxy` (by
 * default an address where nothing listens, refused at once, so nothing hangs), and loopback is
 * exempt. Agents that do not honour proxies find no network in CI anyway.
 */
export function loopbackOnlyEnv(home: string, proxy = 'http://127.0.0.1:9'): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TMPDIR: home,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    NO_COLOR: '1',
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    ALL_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    all_proxy: proxy,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  }
}

export interface ProxyTrap {
  url: string
  /** The first line of each proxied request (`CONNECT host:443 HTTP/1.1`): where an agent tried to go. */
  attempts: string[]
  stop(): void
}

/**
 * A proxy on 127.0.0.1 that forwards nothing: it notes where each request wanted to go and closes
 * the connection, so an agent's call home fails at once and the test can say which hosts it tried.
 */
export function startProxyTrap(): ProxyTrap {
  const attempts: string[] = []
  const server = Bun.listen<{ seen: boolean }>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(socket) {
        socket.data = { seen: false }
      },
      data(socket, data) {
        if (!socket.data.seen) {
          socket.data.seen = true
          attempts.push(new TextDecoder().decode(data.subarray(0, 512)).split('\r\n')[0] ?? '')
        }
        socket.end()
      },
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, attempts, stop: () => server.stop(true) }
}

const BINARY = join(REPO_ROOT, 'dist', 'sluice')
let built: Promise<void> | null = null

/** Builds dist/sluice once per test process, as test/integration/binary.test.ts does. */
export function buildBinary(): Promise<void> {
  built ??= (async () => {
    const proc = Bun.spawn([process.execPath, 'scripts/build.ts'], { cwd: REPO_ROOT, stdout: 'pipe', stderr: 'pipe' })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    if (code !== 0) throw new Error(`building dist/sluice failed:\n${out}\n${err}`)
  })()
  return built
}

export interface BinaryGateway {
  url: string
  dir: string
  /** Everything the process printed so far (log lines and the banner). */
  output(): string
  /** The JSON log lines with msg "request". */
  requestLogs(): any[]
  stop(): Promise<number>
}

/** Starts dist/sluice with a config file, on 127.0.0.1 port 0 with its own temporary database. */
export async function startBinaryGateway(config: object): Promise<BinaryGateway> {
  await buildBinary()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-agent-gw-'))
  const path = join(dir, 'sluice.json')
  writeFileSync(path, JSON.stringify(config))
  const proc = Bun.spawn([BINARY, '--config', path, '--port', '0', '--host', '127.0.0.1', '--db', `file:${join(dir, 'sluice.db')}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, SLUICE_ADMIN_TOKEN: 'admin-token-for-agent-tests-0123456789' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let text = ''
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder()
    for await (const chunk of stream) text += d.decode(chunk, { stream: true })
  }
  void collect(proc.stdout as ReadableStream<Uint8Array>)
  void collect(proc.stderr as ReadableStream<Uint8Array>)
  const deadline = Date.now() + 20_000
  let url: string | undefined
  while (!url && Date.now() < deadline && proc.exitCode === null) {
    url = /ready: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1]
    if (!url) await Bun.sleep(20)
  }
  if (!url) {
    proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`dist/sluice did not start:\n${text}`)
  }
  return {
    url,
    dir,
    output: () => text,
    requestLogs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l)
          } catch {
            return null
          }
        })
        .filter((l) => l?.msg === 'request'),
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        await proc.exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
      return proc.exitCode ?? -1
    },
  }
}

/** A random token that cannot appear in a prompt or tool description by chance. */
export function randomToken(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
}

/** A temporary directory tree for one agent run: HOME, a working directory, and the agent's own home. */
export function agentDirs(name: string): { root: string; home: string; work: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), `sluice-${name}-`))
  const home = join(root, 'home')
  const work = join(root, 'work')
  mkdirSync(home)
  mkdirSync(work)
  return { root, home, work, cleanup: () => rmSync(root, { recursive: true, force: true }) }
}

/** Shortens a request the mock saw for a failure message: long prompts and tool lists cut. */
export function describeRequest(seen: { method: string; path: string; headers: Record<string, string>; body: any }): string {
  const headers = Object.fromEntries(
    Object.entries(seen.headers).map(([k, v]) => [k, /authorization|api-key/i.test(k) ? `${v.slice(0, 14)}...` : v]),
  )
  const body = typeof seen.body === 'object' && seen.body !== null ? { ...seen.body } : seen.body
  if (body && typeof body === 'object') {
    if (Array.isArray(body.tools)) body.tools = body.tools.map((t: any) => t.name ?? t.function?.name ?? t.type)
    for (const k of ['system', 'instructions']) if (typeof body[k] === 'string' && body[k].length > 200) body[k] = `${body[k].slice(0, 200)}...`
    if (Array.isArray(body.system)) body.system = `[${body.system.length} system blocks]`
  }
  const text = JSON.stringify({ method: seen.method, path: seen.path, headers, body }, (_k, v) => (typeof v === 'string' && v.length > 600 ? `${v.slice(0, 600)}...` : v))
  return text.length > 12_000 ? `${text.slice(0, 12_000)}...` : text
}

/** `bun test/helpers/agents.ts`: installs the agents (for CI, before the tests, so install time and errors stand apart). */
if (import.meta.main) {
  for (const spec of [CLAUDE_CODE, CODEX, GEMINI_CLI]) {
    const agent = await installAgent(spec)
    console.log(`${spec.pkg}@${spec.version}: ${agent.installed ? `installed in ${(agent.ms / 1000).toFixed(1)} s` : 'already installed'} -> ${agent.path}`)
  }
}
