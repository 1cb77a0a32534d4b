import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfigText } from '../../src/config/load.ts'
import { loadConfig } from '../../src/config/load.ts'
import { startServer, type RunningServer } from '../../src/server.ts'

export interface TestGateway {
  /** The config file the gateway reads; rewrite it and reload to change the config. */
  configPath: string
  url: string
  baseURL: string
  server: RunningServer
  logs: string[]
  dir: string
  /** Parsed log lines with msg "request". */
  requestLogs(): any[]
  stop(): Promise<void>
}

export const CLIENT_KEY = 'sk-test-client-key-0123456789'

/**
 * Starts a real gateway on 127.0.0.1 port 0 with a temporary database, from YAML text (or a
 * config object that is serialised as YAML-compatible JSON).
 */
export async function startGateway(
  configText: string | object,
  env: Record<string, string> = {},
  options: { dir?: string; now?: () => number } = {},
): Promise<TestGateway> {
  // A given directory (and its database) outlives the gateway, for restart tests.
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'sluice-test-'))
  const text = typeof configText === 'string' ? configText : JSON.stringify(configText)
  const path = join(dir, 'sluice.yaml')
  await Bun.write(path, text)
  // Validate through the same path the CLI uses, then override the per-test bits.
  parseConfigText(text, path, env)
  const load = () => loadConfig({ config: path, port: '0', host: '127.0.0.1', db: `file:${join(dir, 'test.db')}` }, env, dir)
  const logs: string[] = []
  const server = await startServer(load(), {
    logDestination: { write: (line: string) => void logs.push(line) },
    pretty: false,
    reloadConfig: load,
    now: options.now,
    env,
  })
  return {
    configPath: path,
    url: server.url,
    baseURL: `${server.url}/v1`,
    server,
    logs,
    dir,
    requestLogs: () => logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request'),
    async stop() {
      await server.stop()
      if (!options.dir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The usual test config: one mock provider, one static client key. */
export function basicConfig(baseUrl: string, extra: Record<string, unknown> = {}) {
  return {
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'mock', type: 'openai', base_url: baseUrl, keys: ['sk-upstream-secret-aaaa1111'] }],
    ...extra,
  }
}

/** Polls until `check` passes or the deadline ends; for effects that land just after a response. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return
    await Bun.sleep(10)
  }
  throw new Error('condition not met in time')
}
