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
  runAgent,
  startBinaryGateway,
  startProxyTrap,
  type AgentRun,
  type BinaryGateway,
  type InstalledAgent,
} from '../helpers/agents.ts'
import { anthropicSse, startMockAnthropic, type MockAnthropic } from '../helpers/mock-anthropic.ts'
import { chunk, sse, startMockUpstream, type MockUpstream, type SeenRequest } from '../helpers/mock-upstream.ts'

/**
 * The real Codex CLI (`codex exec`), from npm, against the compiled gateway. Codex speaks only the
 * Responses API (POST /v1/responses, streamed); the providers here do not: (a) an OpenAI
 * chat-completions upstream with no /v1/responses route, (b) an Anthropic Messages upstream. So
 * sluice translates the request and the stream both ways. One shell tool round trip: the mock
 * calls Codex's shell tool (found in the translated request) with a command that writes a file,
 * then answers with a final text once the tool's output comes back.
 */

const CLIENT_KEY = 'sk-codex-e2e-client-0123456789'
const PROOF_FILE = 'proof.txt'
const MAX_TOOL_CALLS = 3
/** Codex must reach the gateway within this long after starting (no stalled WebSocket attempt first). */
const FIRST_REQUEST_WITHIN_MS = 15_000

let install: Promise<InstalledAgent>
let ready: Promise<unknown>

beforeAll(async () => {
  install = installAgent(CODEX)
  install.then(
    (a) => console.log(`${CODEX.pkg}@${CODEX.version}: ${a.installed ? `installed in ${Math.round(a.ms)} ms` : 'from the cache'} (${a.path})`),
    () => {},
  )
  ready = Promise.all([install, buildBinary()])
  await ready.catch(() => {}) // surfaced by each test, with its message
}, 420_000)

interface Script {
  proof: string
  final: string
  problems: string[]
  toolCalls: number
  /** Date.now() of each request at the mock upstream. */
  arrivals: number[]
}

const script = (): Script => ({ proof: randomToken('proof'), final: randomToken('final'), problems: [], toolCalls: 0, arrivals: [] })
const shellCommand = (s: Script) => `echo ${s.proof} > ${PROOF_FILE} && cat ${PROOF_FILE}`

interface Tool {
  name: string
  schema: any
}

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

// --- (a) an OpenAI chat-completions upstream, without the Responses API ------------------------

function chatHandler(mock: MockUpstream, s: Script) {
  mock.handler = (_req, body, seen) => {
    s.arrivals.push(Date.now())
    if (!seen.path.endsWith('/chat/completions')) {
      // What a chat-only server (vLLM, DeepSeek...) says to POST /v1/responses.
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
      if (!body.stream) {
        return Response.json({
          id: 'chatcmpl-cx',
          object: 'chat.completion',
          created: 1700000000,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: shell.name, arguments: args } }] }, finish_reason: 'tool_calls' }],
          usage,
        })
      }
      events = [
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id, type: 'function', function: { name: shell.name, arguments: '' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 15) } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(15) } }] }),
        chunk({}, 'tool_calls'),
      ]
    } else {
      if (!shell && tools.length) s.problems.push(`no shell tool among ${tools.map((t) => t.name).join(', ')}`)
      const text = shell ? `The file is written. ${s.final}` : 'ok'
      if (!body.stream) {
        return Response.json({
          id: 'chatcmpl-cx',
          object: 'chat.completion',
          created: 1700000000,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
          usage,
        })
      }
      events = [chunk({ role: 'assistant', content: '' }), chunk({ content: text.slice(0, 10) }), chunk({ content: text.slice(10) }), chunk({}, 'stop')]
    }
    if (body.stream_options?.include_usage) events.push({ id: 'chatcmpl-cx', object: 'chat.completion.chunk', created: 1700000000, model: body.model, choices: [], usage })
    events.push('[DONE]')
    return new Response(sse(events), { headers: { 'content-type': 'text/event-stream' } })
  }
}

// --- (b) an Anthropic Messages upstream --------------------------------------------------------

function anthropicHandler(mock: MockAnthropic, s: Script) {
  mock.handler = (_req, body, seen) => {
    s.arrivals.push(Date.now())
    if (seen.path.startsWith('/v1/messages/count_tokens')) return Response.json({ input_tokens: 100 })
    if (!seen.path.startsWith('/v1/messages')) {
      return Response.json({ type: 'error', error: { type: 'not_found_error', message: `no route ${seen.method} ${seen.path}` } }, { status: 404 })
    }
    const tools: Tool[] = (body.tools ?? []).filter((t: any) => t.input_schema).map((t: any) => ({ name: t.name, schema: t.input_schema }))
    const shell = shellTool(tools)
    const hasResult = (body.messages ?? []).some((m: any) => m.role === 'user' && Array.isArray(m.content) && m.content.some((c: any) => c.type === 'tool_result'))
    const usage = { input_tokens: 100, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 1 }
    const start: [string, object] = ['message_start', { message: { id: `msg_${s.arrivals.length}`, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage } }]
    if (shell && !hasResult && s.toolCalls < MAX_TOOL_CALLS) {
      const input = shellArgs(shell, s)
      if (!input) return Response.json({ type: 'error', error: { type: 'invalid_request_error', message: s.problems.join('; ') } }, { status: 400 })
      s.toolCalls++
      const id = `toolu_${s.toolCalls}${s.proof.slice(-6)}`
      const json = JSON.stringify(input)
      if (!body.stream) {
        return Response.json({ id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [{ type: 'tool_use', id, name: shell.name, input }], stop_reason: 'tool_use', stop_sequence: null, usage })
      }
      return new Response(
        anthropicSse([
          start,
          ['content_block_start', { index: 0, content_block: { type: 'tool_use', id, name: shell.name, input: {} } }],
          ['content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: json.slice(0, 15) } }],
          ['content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: json.slice(15) } }],
          ['content_block_stop', { index: 0 }],
          ['message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 20 } }],
          ['message_stop', {}],
        ]),
        { headers: { 'content-type': 'text/event-stream' } },
      )
    }
    if (!shell && tools.length) s.problems.push(`no shell tool among ${tools.map((t) => t.name).join(', ')}`)
    const text = shell ? `The file is written. ${s.final}` : 'ok'
    if (!body.stream) {
      return Response.json({ id: 'msg_2', type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage })
    }
    return new Response(
      anthropicSse([
        start,
        ['content_block_start', { index: 0, content_block: { type: 'text', text: '' } }],
        ['content_block_delta', { index: 0, delta: { type: 'text_delta', text: text.slice(0, 10) } }],
        ['content_block_delta', { index: 0, delta: { type: 'text_delta', text: text.slice(10) } }],
        ['content_block_stop', { index: 0 }],
        ['message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 20 } }],
        ['message_stop', {}],
      ]),
      { headers: { 'content-type': 'text/event-stream' } },
    )
  }
}

// --- (c) an upstream with the Responses API itself: passed through, the baseline ---------------

/** One Responses stream: the output items as Codex expects them, ending in response.completed. */
function responsesStream(model: string, items: any[], n: number): string {
  const response = { id: `resp_${n}`, object: 'response', created_at: 1700000000, model, status: 'in_progress', output: [] as any[], usage: null as any }
  const events: Array<[string, object]> = [['response.created', { response }]]
  items.forEach((item, i) => {
    events.push(['response.output_item.added', { output_index: i, item: { ...item, status: 'in_progress', ...(item.type === 'message' ? { content: [] } : { arguments: '' }) } }])
    if (item.type === 'function_call') {
      events.push(['response.function_call_arguments.delta', { output_index: i, item_id: item.id, delta: item.arguments.slice(0, 15) }])
      events.push(['response.function_call_arguments.delta', { output_index: i, item_id: item.id, delta: item.arguments.slice(15) }])
      events.push(['response.function_call_arguments.done', { output_index: i, item_id: item.id, arguments: item.arguments }])
    } else {
      const text = item.content[0].text
      events.push(['response.content_part.added', { output_index: i, item_id: item.id, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }])
      events.push(['response.output_text.delta', { output_index: i, item_id: item.id, content_index: 0, delta: text.slice(0, 10) }])
      events.push(['response.output_text.delta', { output_index: i, item_id: item.id, content_index: 0, delta: text.slice(10) }])
      events.push(['response.output_text.done', { output_index: i, item_id: item.id, content_index: 0, text }])
      events.push(['response.content_part.done', { output_index: i, item_id: item.id, content_index: 0, part: item.content[0] }])
    }
    events.push(['response.output_item.done', { output_index: i, item }])
  })
  const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 20, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 120 }
  events.push(['response.completed', { response: { ...response, status: 'completed', output: items, usage } }])
  return events.map(([name, data], i) => `event: ${name}\ndata: ${JSON.stringify({ type: name, sequence_number: i, ...data })}\n\n`).join('')
}

function responsesHandler(mock: MockUpstream, s: Script) {
  mock.handler = (_req, body, seen) => {
    s.arrivals.push(Date.now())
    if (!seen.path.endsWith('/responses')) {
      return Response.json({ error: { message: `Unknown request URL: ${seen.method} ${seen.path}`, type: 'invalid_request_error' } }, { status: 404 })
    }
    const tools: Tool[] = (body.tools ?? []).filter((t: any) => t.type === 'function').map((t: any) => ({ name: t.name, schema: t.parameters }))
    const shell = shellTool(tools)
    const hasResult = (body.input ?? []).some((i: any) => i.type === 'function_call_output')
    let item: any
    if (shell && !hasResult && s.toolCalls < MAX_TOOL_CALLS) {
      const input = shellArgs(shell, s)
      if (!input) return Response.json({ error: { message: s.problems.join('; ') } }, { status: 400 })
      s.toolCalls++
      item = { type: 'function_call', id: `fc_${s.toolCalls}`, call_id: `call_${s.toolCalls}${s.proof.slice(-6)}`, name: shell.name, arguments: JSON.stringify(input), status: 'completed' }
    } else {
      if (!shell && tools.length) s.problems.push(`no shell tool among ${tools.map((t) => t.name).join(', ')}`)
      const text = shell ? `The file is written. ${s.final}` : 'ok'
      item = { type: 'message', id: `msg_${s.arrivals.length}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }
    }
    if (!body.stream) return Response.json({ id: 'resp_1', object: 'response', created_at: 1700000000, model: body.model, status: 'completed', output: [item] })
    return new Response(responsesStream(body.model, [item], s.arrivals.length), { headers: { 'content-type': 'text/event-stream' } })
  }
}

// --- running Codex -----------------------------------------------------------------------------

interface CodexRun {
  run: AgentRun
  work: string
  /** Requests for other hosts, refused by the proxy trap. */
  elsewhere: string[]
  startedAt: number
  cleanup(): void
}

async function runCodex(gw: BinaryGateway, model: string): Promise<CodexRun> {
  const agent = await install
  await ready
  const dirs = agentDirs('codex')
  const codexHome = join(dirs.home, '.codex')
  await Bun.write(
    join(codexHome, 'config.toml'),
    [
      `model_provider = "sluice"`,
      `model = "${model}"`,
      `check_for_update_on_startup = false`,
      ``,
      `[model_providers.sluice]`,
      `name = "sluice"`,
      `base_url = "${gw.url}/v1"`,
      `env_key = "SLUICE_KEY"`,
      `wire_api = "responses"`,
      // A gateway error fails the run at once instead of after five reconnects.
      `request_max_retries = 1`,
      `stream_max_retries = 1`,
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
  const env = { ...loopbackOnlyEnv(dirs.home, trap.url), CODEX_HOME: codexHome, SLUICE_KEY: CLIENT_KEY }
  const prompt = `Run a shell command that writes the proof file ${PROOF_FILE} in the current directory, then tell me you are done.`
  const startedAt = Date.now()
  // --strict-config: a key this Codex does not know is an error, not silently ignored.
  const run = await runAgent(
    [agent.path, 'exec', '--strict-config', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--color', 'never', '-C', dirs.work, prompt],
    { cwd: dirs.work, env, timeoutMs: 100_000 },
  ).finally(() => trap.stop())
  return { run, work: dirs.work, elsewhere: trap.attempts, startedAt, cleanup: dirs.cleanup }
}

/** When each request reached the gateway: its log line's time less its latency. */
function gatewayArrivals(gw: BinaryGateway): number[] {
  return gw
    .requestLogs()
    .map((l) => Date.parse(l.time) - (l.latency_ms ?? 0))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b)
}

function report(title: string, c: CodexRun, gw: BinaryGateway, requests: SeenRequest[], s: Script): string {
  return [
    `--- ${title}: codex exit ${c.run.exitCode}${c.run.signal ? ` signal ${c.run.signal}` : ''}${c.run.timedOut ? ' (timed out, killed)' : ''} after ${Math.round(c.run.ms)} ms`,
    `--- codex stdout:\n${c.run.stdout}`,
    `--- codex stderr (last 6000 chars):\n${c.run.stderr.slice(-6000)}`,
    `--- mock problems: ${JSON.stringify(s.problems)}`,
    `--- the gateway's request log:`,
    ...gw.requestLogs().map((l) => JSON.stringify(l)),
    `--- the gateway's other output (last 4000 chars):\n${gw
      .output()
      .split('\n')
      .filter((l) => !l.includes('"msg":"request"'))
      .join('\n')
      .slice(-4000)}`,
    `--- ${requests.length} request(s) at the mock upstream:`,
    ...requests.map(describeRequest),
  ].join('\n')
}

async function check(title: string, gw: BinaryGateway, model: string, requests: SeenRequest[], s: Script, toolResultCarries: (r: SeenRequest) => boolean) {
  const c = await runCodex(gw, model)
  try {
    if (process.env.SLUICE_E2E_VERBOSE) console.log(report(title, c, gw, requests, s))
    const atGateway = gatewayArrivals(gw)
    const atMock = s.arrivals
    console.log(
      `${title}: codex ran ${Math.round(c.run.ms)} ms (exit ${c.run.exitCode}); start to first request at the gateway: ${
        atGateway.length ? `${atGateway[0]! - c.startedAt} ms` : 'none arrived'
      }; at the mock upstream: ${atMock.length ? `${atMock[0]! - c.startedAt} ms` : 'none arrived'}; gateway requests: ${gw.requestLogs().length}, mock requests: ${requests.length}`,
    )
    if (c.elsewhere.length) console.log(`${title}: codex tried to reach other hosts (refused):`, JSON.stringify(c.elsewhere))
    // Codex reached the gateway promptly, over plain HTTP POST: no WebSocket attempt first
    // (sluice answers an upgrade on /v1/responses with 426; Codex must not stall on it).
    expect(atGateway.length).toBeGreaterThan(0)
    expect(atGateway[0]! - c.startedAt).toBeLessThan(FIRST_REQUEST_WITHIN_MS)
    const websocket = gw.requestLogs().filter((l) => l.method === 'GET' || l.status === 426)
    if (websocket.length) console.log(`${title}: Codex tried a WebSocket first:`, JSON.stringify(websocket))
    if (/websocket/i.test(c.run.stderr)) console.log(`${title}: Codex mentions a WebSocket:`, c.run.stderr.split('\n').filter((l) => /websocket/i.test(l)).join('\n'))
    expect(websocket.filter((l) => l.path?.startsWith('/v1/responses'))).toEqual([])

    // Every request Codex made was answered 200 (else: the status and message, from the log).
    expect(gw.requestLogs().filter((l) => l.status !== 200).map((l) => `${l.status} ${l.method} ${l.path} ${l.model}: ${l.error?.message ?? ''}`)).toEqual([])
    expect(s.problems).toEqual([])
    expect(c.run.timedOut).toBe(false)
    // The shell command really ran in the working directory...
    const proofPath = join(c.work, PROOF_FILE)
    expect(existsSync(proofPath)).toBe(true)
    expect(readFileSync(proofPath, 'utf8').trim()).toBe(s.proof)
    // ...its output went back upstream as the tool's result...
    expect(requests.some(toolResultCarries)).toBe(true)
    // ...and the final answer is Codex's output.
    expect(c.run.stdout).toContain(s.final)
    expect(c.run.exitCode).toBe(0)
    // Codex streams, and the translated requests stream upstream too.
    const agentRequests = requests.filter((r) => (r.body?.tools ?? []).length > 0)
    expect(agentRequests.length).toBeGreaterThanOrEqual(2)
    expect(agentRequests.every((r) => r.body.stream === true)).toBe(true)
  } catch (err) {
    console.error(report(title, c, gw, requests, s))
    throw err
  } finally {
    c.cleanup()
  }
}

describe('Codex CLI (real CLI from npm) through dist/sluice', () => {
  let chat: MockUpstream
  let anthropic: MockAnthropic
  let responses: MockUpstream
  afterAll(() => {
    chat?.stop()
    anthropic?.stop()
    responses?.stop()
  })

  test('(a) an OpenAI chat-completions provider: Responses translated to chat and back, a shell tool round trip', async () => {
    chat = startMockUpstream()
    const s = script()
    chatHandler(chat, s)
    await ready.catch(() => {})
    const model = 'deepseek-chat'
    const gw = await startBinaryGateway({
      auth: { keys: [{ name: 'codex', key: CLIENT_KEY }] },
      // api: chat (also the default for a base URL that is not OpenAI's): no Responses API there.
      providers: [{ name: 'chatonly', type: 'openai', api: 'chat', base_url: chat.baseUrl, keys: ['sk-upstream-chat-0002'], models: [model] }],
    })
    try {
      await check('(a) chat provider', gw, model, chat.requests, s, (r) =>
        (r.body?.messages ?? []).some((m: any) => m.role === 'tool' && textOf(m.content).includes(s.proof)),
      )
    } finally {
      await gw.stop()
    }
  }, 180_000)

  test('(b) an Anthropic provider: Responses translated to Messages and back, a shell tool round trip', async () => {
    anthropic = startMockAnthropic()
    const s = script()
    anthropicHandler(anthropic, s)
    await ready.catch(() => {})
    const model = 'claude-sonnet-4-5'
    const gw = await startBinaryGateway({
      auth: { keys: [{ name: 'codex', key: CLIENT_KEY }] },
      providers: [{ name: 'claude', type: 'anthropic', base_url: anthropic.url, keys: ['sk-ant-upstream-0002'], models: [model] }],
    })
    try {
      await check('(b) anthropic provider', gw, model, anthropic.requests, s, (r) =>
        (r.body?.messages ?? []).some(
          (m: any) => m.role === 'user' && Array.isArray(m.content) && m.content.some((c: any) => c.type === 'tool_result' && textOf(c.content).includes(s.proof)),
        ),
      )
    } finally {
      await gw.stop()
    }
  }, 180_000)

  test('(c) a provider with the Responses API: passed through (the baseline for the tests above), a shell tool round trip', async () => {
    responses = startMockUpstream()
    const s = script()
    responsesHandler(responses, s)
    await ready.catch(() => {})
    const model = 'gpt-test-responses'
    const gw = await startBinaryGateway({
      auth: { keys: [{ name: 'codex', key: CLIENT_KEY }] },
      providers: [{ name: 'openai', type: 'openai', api: 'responses', base_url: responses.baseUrl, keys: ['sk-upstream-responses-0003'], models: [model] }],
    })
    try {
      await check('(c) responses provider', gw, model, responses.requests, s, (r) =>
        (r.body?.input ?? []).some((i: any) => i.type === 'function_call_output' && textOf(i.output).includes(s.proof)),
      )
    } finally {
      await gw.stop()
    }
  }, 180_000)
})
