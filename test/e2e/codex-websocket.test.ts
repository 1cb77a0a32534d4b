import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  agentDirs,
  buildBinary,
  CODEX,
  describeRequest,
  installAgent,
  loopbackOnlyEnv,
  randomToken,
  startBinaryGateway,
  startProxyTrap,
  type BinaryGateway,
  type InstalledAgent,
} from '../helpers/agents.ts'
import { chunk, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

/**
 * The real Codex CLI with its BUILT-IN `openai` provider pointed at the gateway (`openai_base_url`
 * in config.toml), in front of a chat-only upstream. Unlike a custom provider, the built-in one
 * supports WebSockets: at session start Codex tries `GET {base}/responses` with `Upgrade:
 * websocket` (`OpenAI-Beta: responses_websockets=...`). sluice answers 426; Codex 0.171 then
 * switches the whole session to HTTP at once (one attempt). Any other refusal (404, 401, an error
 * frame after accepting the upgrade) is retried with backoff, 7 handshakes over about 6.5 s,
 * before the same fallback. Measured here: start to the upgrade attempt, to the first POST
 * /v1/responses, to Codex's first output and its exit; and exactly one upgrade attempt.
 *
 * Codex 0.171 facts this relies on (found by running it): `openai_base_url` in config.toml is
 * honoured, the OPENAI_BASE_URL variable is not (it goes to api.openai.com); `codex exec` sends
 * the CODEX_API_KEY variable as the Bearer key, not OPENAI_API_KEY (no Authorization at all).
 */

const CLIENT_KEY = 'sk-codex-ws-e2e-client-0123456789'
const PROOF_FILE = 'proof.txt'
const MAX_TOOL_CALLS = 3
/** Codex must reach the gateway within this long after starting. */
const FIRST_REQUEST_WITHIN_MS = 15_000
/**
 * From the refused upgrade to the first POST. An immediate fallback takes ~0.1 s; the retried
 * one (backoff 0.2 + 0.4 + 0.8 + 1.6 + 3.2 s) takes over 6 s, so this bound tells them apart.
 */
const FALLBACK_WITHIN_MS = 3_000
const RUN_TIMEOUT_MS = 100_000

let install: Promise<InstalledAgent>
let ready: Promise<unknown>

beforeAll(async () => {
  install = installAgent(CODEX)
  install.then(
    (a) => console.log(`${CODEX.pkg}@${CODEX.version}: ${a.installed ? `installed in ${Math.round(a.ms)} ms` : 'from the cache'} (${a.path})`),
    () => {},
  )
  ready = Promise.all([install, buildBinary()])
  await ready.catch(() => {}) // surfaced by the test, with its message
}, 420_000)

// --- the chat-only upstream: one shell tool call, then a final text -----------------------------

interface Script {
  proof: string
  final: string
  problems: string[]
  toolCalls: number
}

interface Tool {
  name: string
  schema: any
}

const shellCommand = (s: Script) => `echo ${s.proof} > ${PROOF_FILE} && cat ${PROOF_FILE}`

/** Codex's shell tool among the tools of the translated request, by its known names. */
function shellTool(tools: Tool[]): Tool | undefined {
  for (const name of ['exec_command', 'shell', 'shell_command', 'local_shell']) {
    const tool = tools.find((t) => t.name === name)
    if (tool) return tool
  }
  return undefined
}

/** The shell tool's arguments, shaped by its declared schema (`cmd` string, or `command` string / argv). */
function shellArgs(tool: Tool, s: Script): Record<string, unknown> | null {
  const props = tool.schema?.properties ?? {}
  const args: Record<string, unknown> = {}
  if (props.cmd?.type === 'string') args.cmd = shellCommand(s)
  else if (props.command?.type === 'array') args.command = ['bash', '-lc', shellCommand(s)]
  else if (props.command?.type === 'string') args.command = shellCommand(s)
  else {
    s.problems.push(`cannot tell how to call ${tool.name}: ${JSON.stringify(tool.schema).slice(0, 500)}`)
    return null
  }
  for (const r of tool.schema?.required ?? []) if (!(r in args)) s.problems.push(`${tool.name} requires "${r}", which the mock does not fill`)
  return args
}

const textOf = (content: any): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((c: any) => (typeof c === 'string' ? c : (c.text ?? textOf(c.content)))).join('') : ''

function chatHandler(mock: MockUpstream, s: Script) {
  mock.handler = (_req, body, seen) => {
    if (!seen.path.endsWith('/chat/completions')) {
      return Response.json({ error: { message: `Unknown request URL: ${seen.method} ${seen.path}`, type: 'invalid_request_error', code: 'unknown_url' } }, { status: 404 })
    }
    const tools: Tool[] = (body.tools ?? []).filter((t: any) => t.function).map((t: any) => ({ name: t.function.name, schema: t.function.parameters }))
    const shell = shellTool(tools)
    const hasResult = (body.messages ?? []).some((m: any) => m.role === 'tool')
    const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 }
    let events: Array<object | string>
    if (shell && !hasResult && s.toolCalls < MAX_TOOL_CALLS) {
      const input = shellArgs(shell, s)
      if (!input) return Response.json({ error: { message: s.problems.join('; ') } }, { status: 400 })
      s.toolCalls++
      const args = JSON.stringify(input)
      const id = `call_${s.toolCalls}${s.proof.slice(-6)}`
      events = [
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name: shell.name, arguments: '' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 15) } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(15) } }] }),
        chunk({}, 'tool_calls'),
      ]
    } else {
      if (!shell && tools.length) s.problems.push(`no shell tool among ${tools.map((t) => t.name).join(', ')}`)
      const text = shell ? `The file is written. ${s.final}` : 'ok'
      events = [chunk({ role: 'assistant', content: '' }), chunk({ content: text.slice(0, 10) }), chunk({ content: text.slice(10) }), chunk({}, 'stop')]
    }
    if (!body.stream) {
      s.problems.push('a request without stream: true')
      return Response.json({ error: { message: 'the mock only streams' } }, { status: 400 })
    }
    if (body.stream_options?.include_usage) events.push({ id: 'chatcmpl-cx', object: 'chat.completion.chunk', created: 1700000000, model: body.model, choices: [], usage })
    events.push('[DONE]')
    return new Response(sse(events), { headers: { 'content-type': 'text/event-stream' } })
  }
}

// --- running Codex, with the time of its first output --------------------------------------------

interface TimedRun {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
  /** Date.now() at the spawn, at the first byte on stdout / stderr, and at the exit. */
  startedAt: number
  firstStdoutAt: number | null
  firstStderrAt: number | null
  exitedAt: number
}

/** As runAgent in the helpers (stdin closed, SIGKILL at the timeout), noting when output first came. */
async function runTimed(cmd: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<TimedRun> {
  const startedAt = Date.now()
  const proc = Bun.spawn(cmd, { cwd: options.cwd, env: options.env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    proc.kill('SIGKILL')
  }, options.timeoutMs)
  const out = { stdout: '', stderr: '' }
  const first: { stdout: number | null; stderr: number | null } = { stdout: null, stderr: null }
  const collect = async (stream: ReadableStream<Uint8Array>, key: 'stdout' | 'stderr') => {
    const d = new TextDecoder()
    for await (const piece of stream) {
      first[key] ??= Date.now()
      out[key] += d.decode(piece, { stream: true })
    }
  }
  const reading = Promise.all([collect(proc.stdout as ReadableStream<Uint8Array>, 'stdout'), collect(proc.stderr as ReadableStream<Uint8Array>, 'stderr')])
  await proc.exited
  const exitedAt = Date.now()
  clearTimeout(timer)
  // A grandchild that kept the pipes open must not hold the test: give the readers a moment.
  await Promise.race([reading, Bun.sleep(2000)])
  return {
    exitCode: proc.exitCode,
    signal: proc.signalCode === null ? null : String(proc.signalCode),
    stdout: out.stdout,
    stderr: out.stderr,
    timedOut,
    startedAt,
    firstStdoutAt: first.stdout,
    firstStderrAt: first.stderr,
    exitedAt,
  }
}

interface CodexRun {
  run: TimedRun
  work: string
  /** Requests for other hosts, refused by the proxy trap. */
  elsewhere: string[]
  cleanup(): void
}

/** `codex exec` with the built-in `openai` provider, its base URL the gateway's. */
async function runCodexBuiltIn(gw: BinaryGateway, model: string): Promise<CodexRun> {
  const agent = await install
  await ready
  const dirs = agentDirs('codex-ws')
  const codexHome = join(dirs.home, '.codex')
  await Bun.write(
    join(codexHome, 'config.toml'),
    [
      // No model_provider: the built-in `openai` one, with supports_websockets = true. Its
      // retry settings cannot be changed here (a built-in provider), so a broken gateway costs
      // Codex's default five reconnects; the run's timeout still bounds it.
      `model = "${model}"`,
      `openai_base_url = "${gw.url}/v1"`,
      `check_for_update_on_startup = false`,
      ``,
      `[analytics]`,
      `enabled = false`,
      ``,
      `[feedback]`,
      `enabled = false`,
      ``,
      // The curated-plugin sync at start-up calls github.com, api.github.com and chatgpt.com.
      `[features]`,
      `plugins = false`,
      ``,
    ].join('\n'),
  )
  const trap = startProxyTrap()
  // CODEX_API_KEY is the key `codex exec` sends to the built-in provider (OPENAI_API_KEY is not read).
  const env = { ...loopbackOnlyEnv(dirs.home, trap.url), CODEX_HOME: codexHome, CODEX_API_KEY: CLIENT_KEY }
  const prompt = `Run a shell command that writes the proof file ${PROOF_FILE} in the current directory, then tell me you are done.`
  const run = await runTimed(
    [agent.path, 'exec', '--strict-config', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--color', 'never', '-C', dirs.work, prompt],
    { cwd: dirs.work, env, timeoutMs: RUN_TIMEOUT_MS },
  ).finally(() => trap.stop())
  return { run, work: dirs.work, elsewhere: trap.attempts, cleanup: dirs.cleanup }
}

/** Each request the gateway logged, with when it arrived (its log line's time less its latency). */
function gatewayRequests(gw: BinaryGateway): Array<{ at: number; method: string; path: string; status: number; line: any }> {
  return gw
    .requestLogs()
    .map((l) => ({ at: Date.parse(l.time) - (l.latency_ms ?? 0), method: l.method, path: l.path, status: l.status, line: l }))
    .filter((r) => Number.isFinite(r.at))
    .sort((a, b) => a.at - b.at)
}

function report(c: CodexRun, gw: BinaryGateway, mock: MockUpstream, s: Script): string {
  const r = c.run
  return [
    `--- codex exit ${r.exitCode}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out, killed)' : ''} after ${r.exitedAt - r.startedAt} ms`,
    `--- codex stdout:\n${r.stdout}`,
    `--- codex stderr (last 6000 chars):\n${r.stderr.slice(-6000)}`,
    `--- other hosts tried (refused by the proxy trap): ${JSON.stringify(c.elsewhere)}`,
    `--- mock problems: ${JSON.stringify(s.problems)}`,
    `--- the gateway's request log (arrival relative to the spawn):`,
    ...gatewayRequests(gw).map((q) => `+${q.at - r.startedAt} ms ${JSON.stringify(q.line)}`),
    `--- the gateway's other output (last 4000 chars):\n${gw
      .output()
      .split('\n')
      .filter((l) => !l.includes('"msg":"request"'))
      .join('\n')
      .slice(-4000)}`,
    `--- ${mock.requests.length} request(s) at the mock upstream:`,
    ...mock.requests.map(describeRequest),
  ].join('\n')
}

describe('Codex CLI (real CLI from npm), built-in openai provider, through dist/sluice', () => {
  let chat: MockUpstream
  afterAll(() => chat?.stop())

  test('the WebSocket upgrade is refused with 426 once, the session falls back to HTTP at once, a shell tool round trip', async () => {
    chat = startMockUpstream()
    const s: Script = { proof: randomToken('proof'), final: randomToken('final'), problems: [], toolCalls: 0 }
    chatHandler(chat, s)
    await ready.catch(() => {})
    const model = 'deepseek-chat'
    const gw = await startBinaryGateway({
      auth: { keys: [{ name: 'codex', key: CLIENT_KEY }] },
      providers: [{ name: 'chatonly', type: 'openai', api: 'chat', base_url: chat.baseUrl, keys: ['sk-upstream-chat-0004'], models: [model] }],
    })
    let c: CodexRun | undefined
    try {
      c = await runCodexBuiltIn(gw, model)
      const r = c.run
      if (process.env.SLUICE_E2E_VERBOSE) console.log(report(c, gw, chat, s))
      const seen = gatewayRequests(gw)
      const upgrades = seen.filter((q) => q.method === 'GET' && q.path.startsWith('/v1/responses'))
      const posts = seen.filter((q) => q.method === 'POST' && q.path.startsWith('/v1/responses'))
      const rel = (t: number | null | undefined) => (t == null ? 'none' : `${t - r.startedAt} ms`)
      console.log(
        [
          `codex ${CODEX.version}, built-in openai provider -> dist/sluice -> chat-only mock (times from the spawn):`,
          `  first WebSocket upgrade attempt: ${rel(upgrades[0]?.at)} (answered ${upgrades.map((q) => q.status).join(', ') || '-'})`,
          `  first POST /v1/responses:        ${rel(posts[0]?.at)}${upgrades[0] && posts[0] ? ` (${posts[0].at - upgrades[0].at} ms after the upgrade attempt)` : ''}`,
          `  first output: stderr ${rel(r.firstStderrAt)}, stdout ${rel(r.firstStdoutAt)}`,
          `  exit:                            ${r.exitedAt - r.startedAt} ms (code ${r.exitCode}${r.timedOut ? ', timed out' : ''})`,
          `  upgrade attempts: ${upgrades.length}; POST /v1/responses: ${posts.length}; all gateway requests: ${seen.map((q) => `${q.method} ${q.path} ${q.status}`).join(', ')}`,
        ].join('\n'),
      )
      if (c.elsewhere.length) console.log('codex tried to reach other hosts (refused):', JSON.stringify(c.elsewhere))
      const wsLines = r.stderr.split('\n').filter((l) => /websocket/i.test(l))
      if (wsLines.length) console.log('codex mentions a WebSocket:\n' + wsLines.join('\n'))

      // Exactly one handshake, refused with 426, and HTTP right after it: the session fell back at
      // once instead of retrying the WebSocket with backoff.
      expect(upgrades.map((q) => q.status)).toEqual([426])
      expect(posts.length).toBeGreaterThanOrEqual(2)
      expect(upgrades[0]!.at).toBeLessThanOrEqual(posts[0]!.at)
      expect(posts[0]!.at - upgrades[0]!.at).toBeLessThan(FALLBACK_WITHIN_MS)
      expect(posts[0]!.at - r.startedAt).toBeLessThan(FIRST_REQUEST_WITHIN_MS)
      // Codex's visible "Falling back from WebSockets to HTTPS transport" warning comes only from the
      // slow path (retry budget spent); the 426 fallback is silent.
      expect(r.stderr).not.toContain('Falling back from WebSockets')

      // Every request was answered as expected: 426 for the upgrade, 200 for the rest.
      expect(seen.filter((q) => q.status !== 200 && q !== upgrades[0]).map((q) => `${q.status} ${q.method} ${q.path}: ${q.line.error?.message ?? ''}`)).toEqual([])
      expect(s.problems).toEqual([])
      expect(r.timedOut).toBe(false)
      // The shell command really ran in the working directory...
      const proofPath = join(c.work, PROOF_FILE)
      expect(existsSync(proofPath)).toBe(true)
      expect(readFileSync(proofPath, 'utf8').trim()).toBe(s.proof)
      // ...its output went back upstream as the tool's result...
      expect(chat.requests.some((q) => (q.body?.messages ?? []).some((m: any) => m.role === 'tool' && textOf(m.content).includes(s.proof)))).toBe(true)
      // ...and the final answer is Codex's output.
      expect(r.stdout).toContain(s.final)
      expect(r.exitCode).toBe(0)
    } catch (err) {
      if (c) console.error(report(c, gw, chat, s))
      throw err
    } finally {
      c?.cleanup()
      await gw.stop()
    }
  }, 180_000)
})
