import { describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { runCli } from '../../src/cli/index.ts'
import { parseDotenv } from '../../src/cli/import/sources.ts'
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.ts'
import type { Config } from '../../src/config/schema.ts'

// Sample files in the formats of the small Python "2API" proxies people move over from, bad lines
// included; the produced config goes through the same loader `sluice check` and `serve` use.

function capture() {
  const out: string[] = []
  return { stream: { write: (s: string) => out.push(s) }, text: () => out.join('') }
}

async function run(...argv: string[]) {
  const out = capture()
  const err = capture()
  const code = await runCli(argv, out.stream, err.stream)
  return { code, out: out.text(), err: err.text() }
}

/** A directory with the given files in it. */
function files(contents: Record<string, string>): { dir: string; path: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-import-'))
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text)
  return { dir, path: (name) => join(dir, name) }
}

/** The YAML read as `sluice check --config` reads it. */
function load(yaml: string, env: Record<string, string> = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-imported-'))
  const path = join(dir, 'sluice.yaml')
  writeFileSync(path, yaml)
  return loadConfig({ config: path }, env, dir)
}

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    load(yaml, env)
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  return []
}

const reportLines = (err: string) => err.trim().split('\n')

/** Every value of `text` that looks like a secret (keys, tokens, passwords). */
const secretsIn = (text: string) => [...text.matchAll(/(?:sk|aai|tok)-[A-Za-z0-9-]{4,}|letmein|hunter2/g)].map((m) => m[0])

const DEEPSEEK_ENV = `# DeepSeek2API settings
BASE_URL=https://api.deepseek.com/v1/
API_KEYS=["sk-ds-aaaaaaaaaaaaaaaaaaaa01","sk-ds-aaaaaaaaaaaaaaaaaaaa02"]
TOKEN_POOL=sk-ds-aaaaaaaaaaaaaaaaaaaa03, sk-ds-aaaaaaaaaaaaaaaaaaaa01
AVAILABLE_MODELS=["deepseek-chat","deepseek-reasoner"]
PROXY_URL=http://127.0.0.1:7890
API_KEY="sk-clients-use-this-0123456789"   # what the clients send

MY_ACCESS_KEY=letmein
MAX_RETRIES=3
LOG_LEVEL=DEBUG
WORKERS=4
STREAM_CHUNK_DELAY=0.05
this line has no equals sign
`

describe('sluice import: .env files', () => {
  test('upstream keys, models, proxy, client keys and retries; every other line is reported', async () => {
    const f = files({ '.env': DEEPSEEK_ENV })
    const r = await run('import', f.path('.env'))
    expect(r.code).toBe(0)
    const config = load(r.out)
    expect(config.providers).toHaveLength(1)
    expect(config.providers[0]).toMatchObject({
      name: 'deepseek',
      type: 'openai',
      base_url: 'https://api.deepseek.com/v1',
      keys: ['sk-ds-aaaaaaaaaaaaaaaaaaaa01', 'sk-ds-aaaaaaaaaaaaaaaaaaaa02', 'sk-ds-aaaaaaaaaaaaaaaaaaaa03'],
      models: ['deepseek-chat', 'deepseek-reasoner'],
      proxy: 'http://127.0.0.1:7890',
    })
    expect(config.auth.keys.map((k) => [k.name, k.key])).toEqual([['api_key', 'sk-clients-use-this-0123456789']])
    // MAX_RETRIES counts the retries after the first attempt; max_attempts counts them all.
    expect(config.retry.max_attempts).toBe(4)
    expect(config.log.level).toBe('debug')

    const at = (line: number) => `${f.path('.env')}:${line}: `
    const lines = reportLines(r.err)
    expect(lines).toContain(`${at(4)}note: TOKEN_POOL: the same upstream key as ${f.path('.env')}:3, in the pool once`)
    expect(lines.find((l) => l.startsWith(at(9)))).toContain('MY_ACCESS_KEY not imported: the key is shorter than 20 characters')
    expect(lines.find((l) => l.startsWith(at(12)))).toContain('WORKERS not imported')
    expect(lines.find((l) => l.startsWith(at(13)))).toContain('STREAM_CHUNK_DELAY not imported')
    expect(lines).toContain(`${at(14)}not imported: not a NAME=value line`)
    expect(lines.at(-1)).toMatch(/^sluice import: 1 provider\(s\) with 3 upstream key\(s\), 1 client key\(s\), 2 other setting\(s\); 4 line\(s\) not imported/)
    // Secrets are on stdout only.
    for (const secret of secretsIn(DEEPSEEK_ENV)) expect(r.err).not.toContain(secret)
    // The output says which keys are which.
    expect(r.out).toContain("the keys the old proxy handed out to its own users")
    expect(r.out).toContain('# ' + f.path('.env') + ':2 BASE_URL')
  })

  test('no base URL: a placeholder, reported as needing a value; broken lists, socks proxies and bad numbers are reported', async () => {
    const env = [
      `export TOKEN_POOL='["tok-aaaaaaaaaaaaaaaa","tok-bbbbbbbbbbbbbbbb"]'`,
      'API_KEYS=["sk-never-closed",',
      'PROXY_URL=socks5://127.0.0.1:1080',
      'MAX_RETRIES=lots',
      'AVAILABLE_MODELS=',
      'MAX_RETRIES=lots-again',
      '',
    ].join('\n')
    const f = files({ 'grok.env': env })
    const r = await run('import', f.path('grok.env'))
    expect(r.code).toBe(0)
    expect(r.out).toContain('base_url: ${UPSTREAM_BASE_URL}')
    const lines = reportLines(r.err)
    const line = (n: number) => lines.filter((l) => l.startsWith(`${f.path('grok.env')}:${n}: `)).join('\n')
    expect(line(1)).toContain('needs a value')
    expect(line(1)).toContain('${UPSTREAM_BASE_URL}')
    expect(line(2)).toContain('API_KEYS not imported: it starts like a JSON list but is not one')
    expect(line(3)).toContain('PROXY_URL not imported: a socks5 proxy')
    expect(line(4)).toContain('MAX_RETRIES not imported: set again on line 6')
    expect(line(5)).toContain('AVAILABLE_MODELS not imported: it is empty')
    expect(line(6)).toContain('MAX_RETRIES not imported: expected a whole number')
    expect(lines.at(-1)).toContain('set UPSTREAM_BASE_URL before starting sluice')
    // Until the placeholder has a value the config names it; then it is valid.
    expect(problems(r.out).join('\n')).toContain('${UPSTREAM_BASE_URL}')
    const config = load(r.out, { UPSTREAM_BASE_URL: 'https://grok.example.com/v1' })
    expect(config.providers[0]).toMatchObject({ name: 'upstream', base_url: 'https://grok.example.com/v1', keys: ['tok-aaaaaaaaaaaaaaaa', 'tok-bbbbbbbbbbbbbbbb'] })
    expect(config.providers[0]!.proxy).toBeNull()
  })

  test('a PROXY_URL with a path is the upstream behind a reverse proxy, not an outbound proxy', async () => {
    const f = files({ '.env': 'API_KEYS=sk-worker-0000000000000001\nPROXY_URL=https://gemini-proxy.example.org/v1\nHTTPS_PROXY=http://10.0.0.1:3128\n' })
    const r = await run('import', f.path('.env'))
    expect(r.code).toBe(0)
    const config = load(r.out)
    expect(config.providers[0]).toMatchObject({ name: 'example', base_url: 'https://gemini-proxy.example.org/v1', proxy: 'http://10.0.0.1:3128' })
    expect(r.err).toContain(':2: note: PROXY_URL has a path, so it is taken as the upstream base URL')
  })

  test('AssemblyAI keys (AMB2API) become the OpenAI-compatible LLM Gateway provider; short passwords are reported', async () => {
    const env = [
      'USE_ASSEMBLY=true',
      'ASSEMBLY_API_KEYS=aai-0123456789abcdef0001,aai-0123456789abcdef0002',
      'API_PASSWORD=pwd',
      'PANEL_PASSWORD=hunter2',
      'HOST=0.0.0.0',
      'PORT=7861',
      'ENABLE_REAL_STREAMING=false',
      '',
    ].join('\n')
    const f = files({ '.env': env })
    const r = await run('import', f.path('.env'))
    expect(r.code).toBe(0)
    const config = load(r.out)
    expect(config.providers[0]).toMatchObject({
      name: 'assemblyai',
      base_url: 'https://llm-gateway.assemblyai.com/v1',
      keys: ['aai-0123456789abcdef0001', 'aai-0123456789abcdef0002'],
      fake_stream: true,
    })
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 7861 })
    expect(config.auth.keys).toEqual([])
    const lines = reportLines(r.err)
    expect(lines.find((l) => l.includes(':1: '))).toContain('USE_ASSEMBLY not imported')
    expect(lines.find((l) => l.includes(':2: '))).toContain("AssemblyAI's OpenAI-compatible LLM Gateway")
    expect(lines.find((l) => l.includes(':3: '))).toContain('API_PASSWORD not imported: the key is shorter than 20 characters')
    expect(lines.find((l) => l.includes(':4: '))).toContain('PANEL_PASSWORD not imported: shorter than 20 characters')
    for (const secret of ['hunter2', 'aai-0123456789abcdef0001']) expect(r.err).not.toContain(secret)
  })
})

const UNLIMITED_ENV = `# ==================== 服务配置 ====================
UNLIMITED_SERVER_HOST=127.0.0.1
UNLIMITED_SERVER_PORT=8000
UNLIMITED_SERVER_WORKERS=1
UNLIMITED_SERVER_TIMEOUT_GRACEFUL_SHUTDOWN=6
UNLIMITED_API_MAX_RETRIES=5
UNLIMITED_API_INITIAL_RETRY_DELAY_MS=100
UNLIMITED_TOKEN_CACHE_TTL=3600
UNLIMITED_LOGGING_LEVEL=INFO,WARNING
UNLIMITED_API_KEY_PROTECTION=TRUE
UNLIMITED_API_KEY_FILE=.key
UNLIMITED_RATE_LIMIT_ENABLED=TRUE
UNLIMITED_RATE_LIMIT_IP=50
UNLIMITED_RATE_LIMIT_WINDOW=60
UNLIMITED_RATE_LIMIT_BY_KEY=TRUE
UNLIMITED_RATE_LIMIT_KEY_DEFAULT=30
`

const UNLIMITED_KEYS = `# API密钥配置文件
# 格式: API_KEY_序号=密钥值=过期时间[=限速设置[:限速值]]
API_KEY_1=sk-unlimited-dev-key-000001=permanent=no_limit
API_KEY_2=sk-unlimited-test-key-00002=2099-12-31=no_limit
API_KEY_3=sk-unlimited-high-freq-003=permanent=rate_limit:3
API_KEY_4=sk-unlimited-normal-key-004=permanent=rate_limit
API_KEY_5=sk-unlimited-global-key-005
API_KEY_6=sk-short=permanent
API_KEY_7=sk-unlimited-bad-date-00007=31/12/2025=no_limit
API_KEY_8=sk-unlimited-old-key-000008=2020-01-01=rate_limit:10
# API_KEY_9=sk-unlimited-demo-key=2023-12-31=rate_limit:10
not a key line
API_KEY_10=sk-padded-secret-000010=Zq9xPadding=permanent
`

describe('sluice import: .KEY files', () => {
  test('client keys with expires_at and rpm; the default limit comes from the .env beside it', async () => {
    const f = files({ '.env': UNLIMITED_ENV, '.KEY': UNLIMITED_KEYS })
    const r = await run('import', f.path('.env'), f.path('.KEY'))
    expect(r.code).toBe(0)
    const config = load(r.out)
    const keys = Object.fromEntries(config.auth.keys.map((k) => [k.name, k]))
    expect(Object.keys(keys)).toEqual(['api-key-1', 'api-key-2', 'api-key-3', 'api-key-4', 'api-key-5', 'api-key-8'])
    expect(keys['api-key-1']).toMatchObject({ key: 'sk-unlimited-dev-key-000001', expiresAt: null, policy: { rpm: null } })
    // The old proxy refused a key from the midnight that starts its date.
    expect(keys['api-key-2']).toMatchObject({ expiresAt: Date.parse('2099-12-31T00:00:00Z'), policy: { rpm: null } })
    expect(keys['api-key-3']!.policy.rpm).toBe(3)
    expect(keys['api-key-4']!.policy.rpm).toBe(30)
    expect(keys['api-key-5']).toMatchObject({ expiresAt: null, policy: { rpm: 30 } })
    expect(keys['api-key-8']).toMatchObject({ expiresAt: Date.parse('2020-01-01T00:00:00Z'), policy: { rpm: 10 } })
    expect(config.server.port).toBe(8000)
    expect(config.server.shutdown_grace_ms).toBe(6000)
    expect(config.retry).toMatchObject({ max_attempts: 6, initial_delay_ms: 100 })
    expect(config.limits.ip_rpm).toBe(50)
    expect(config.log.level).toBe('info')
    // Said in the output: these are the keys the proxy handed to its users.
    expect(r.out).toMatch(/# Client keys: the keys the old proxy handed out to its own users[\s\S]*They are not upstream/)

    const keyLine = (n: number) => reportLines(r.err).filter((l) => l.startsWith(`${f.path('.KEY')}:${n}: `)).join('\n')
    expect(keyLine(8)).toContain('API_KEY_6 not imported: the key is shorter than 20 characters')
    expect(keyLine(9)).toContain('API_KEY_7 not imported: the expiry "31/12/2025" is neither permanent nor a date')
    expect(keyLine(10)).toContain('API_KEY_8: expired on 2020-01-01')
    expect(keyLine(12)).toContain('not imported: expected NAME=KEY=EXPIRY[=LIMIT]')
    // A key with = in it spills into the expiry field, which is then not quoted.
    expect(keyLine(13)).toContain('API_KEY_10 not imported: the expiry in the third field is neither permanent nor a date')
    expect(r.err).not.toContain('Zq9x')
    const envLine = (n: number) => reportLines(r.err).filter((l) => l.startsWith(`${f.path('.env')}:${n}: `)).join('\n')
    expect(envLine(4)).toContain('UNLIMITED_SERVER_WORKERS not imported')
    expect(envLine(8)).toContain('UNLIMITED_TOKEN_CACHE_TTL not imported')
    // The key file it names is imported too.
    for (const n of [2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16]) expect(envLine(n)).toBe('')
    expect(r.err).not.toContain('sk-short')
  })

  test('a .env that names a key file not given says so; its key defaults alone are reported as unused', async () => {
    const f = files({ '.env': UNLIMITED_ENV })
    const r = await run('import', f.path('.env'))
    expect(r.code).toBe(0)
    const line = (n: number) => reportLines(r.err).filter((l) => l.startsWith(`${f.path('.env')}:${n}: `)).join('\n')
    expect(line(11)).toContain('UNLIMITED_API_KEY_FILE not imported: names the key file of the old proxy')
    expect(line(15)).toContain('UNLIMITED_RATE_LIMIT_BY_KEY not imported')
    expect(line(16)).toContain('UNLIMITED_RATE_LIMIT_KEY_DEFAULT not imported')
    // The limit per address is imported, so the switch and window it depends on are too.
    for (const n of [12, 13, 14]) expect(line(n)).toBe('')
    expect(load(r.out).limits.ip_rpm).toBe(50)
  })

  test('without the .env, a key on the default limit is reported, not imported without a limit', async () => {
    const f = files({ '.KEY': UNLIMITED_KEYS })
    const r = await run('import', f.path('.KEY'))
    expect(r.code).toBe(0)
    const names = load(r.out).auth.keys.map((k) => k.name)
    expect(names).toEqual(['api-key-1', 'api-key-2', 'api-key-3', 'api-key-8'])
    for (const n of [6, 7]) expect(r.err).toContain(`${f.path('.KEY')}:${n}: API_KEY_${n - 2} not imported: its limit is the old proxy's default (UNLIMITED_RATE_LIMIT_KEY_DEFAULT`)
  })

  test('a file named otherwise is known by its lines', async () => {
    const f = files({ 'keys.txt': 'API_KEY_1=sk-unlimited-dev-key-000001=permanent=no_limit\n' })
    const r = await run('import', f.path('keys.txt'))
    expect(r.code).toBe(0)
    expect(load(r.out).auth.keys.map((k) => k.name)).toEqual(['api-key-1'])
  })
})

const CONFIG_JSON = `{
  "host": "0.0.0.0",
  "port": 8080,
  "log_level": "INFO",
  "max_connections": 100,
  "stream_timeout": 300.0,
  "providers": [
    "openrouter|https://openrouter.ai/api/v1|sk-or-v1-0000000000000000000000001",
    "openrouter|https://openrouter.ai/api/v1/|sk-or-v1-0000000000000000000000002",
    "#disabled|https://example.com/v1|sk-xxxxxxxxxxxxxxxxxxxx",
    "硅基流动|https://api.siliconflow.cn/v1/chat/completions|sk-sf-000000000000000000000001",
    "missing-key|https://api.example.com/v1",
    {
      "provider": "moonshot",
      "baseurl": "https://api.moonshot.cn/v1",
      "token": "sk-moon-00000000000000000001",
      "model_list": ["moonshot-v1-8k", "kimi-k2-0711-preview"]
    }
  ],
  "tokens": [
    "alice|sk-alice-000000000000000000001",
    "张三|sk-zhangsan-00000000000000001",
    "# a comment",
    "no-separator",
    "bob|short"
  ],
  "supported_models": ["gpt-4", "^moonshot", "(?P<family>claude)-3", "[unclosed"]
}
`

describe('sluice import: config.json', () => {
  test('providers (one per name and URL, keys pooled), tokens as client keys, supported_models as filters', async () => {
    const f = files({ 'config.json': CONFIG_JSON })
    const r = await run('import', f.path('config.json'))
    expect(r.code).toBe(0)
    const config = load(r.out)
    const providers = Object.fromEntries(config.providers.map((p) => [p.name, p]))
    expect(Object.keys(providers)).toEqual(['openrouter', 'provider-4', 'moonshot'])
    expect(providers.openrouter).toMatchObject({ base_url: 'https://openrouter.ai/api/v1', keys: ['sk-or-v1-0000000000000000000000001', 'sk-or-v1-0000000000000000000000002'] })
    expect(providers['provider-4']).toMatchObject({ base_url: 'https://api.siliconflow.cn/v1', keys: ['sk-sf-000000000000000000000001'] })
    // Matched as the old proxy matched them: anywhere in the id, ignoring case.
    const filters = providers.openrouter!.model_filters!.map((f) => new RegExp(f))
    const allowed = (id: string) => filters.some((f) => f.test(id))
    expect(['openai/GPT-4o', 'anthropic/claude-3-haiku', 'moonshot-v1-8k'].map(allowed)).toEqual([true, true, true])
    expect(['deepseek/deepseek-chat', 'x/moonshot'].map(allowed)).toEqual([false, false])
    // An explicit model_list is filtered here, once.
    expect(providers.moonshot).toMatchObject({ models: ['moonshot-v1-8k'], model_filters: null })
    expect(config.auth.keys.map((k) => [k.name, k.key, k.metadata])).toEqual([
      ['alice', 'sk-alice-000000000000000000001', null],
      ['token-2', 'sk-zhangsan-00000000000000001', { description: '张三' }],
    ])
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8080 })
    expect(config.log.level).toBe('info')

    const line = (n: number) => reportLines(r.err).filter((l) => l.startsWith(`${f.path('config.json')}:${n}: `)).join('\n')
    expect(line(5)).toContain('max_connections not imported')
    expect(line(6)).toContain('stream_timeout not imported')
    expect(line(11)).toContain('"硅基流动" is named "provider-4"')
    expect(line(11)).toContain('without its /chat/completions')
    expect(line(12)).toContain('providers[4] not imported: expected "name|url|key" (three fields), got 2')
    expect(line(17)).toContain('"kimi-k2-0711-preview" left out')
    expect(line(24)).toContain('tokens[3] not imported: expected "description|token"')
    expect(line(25)).toContain('tokens[4] (bob) not imported: the key is shorter than 20 characters')
    expect(line(27)).toContain('supported_models[3] not imported: not a regular expression')
    for (const secret of secretsIn(CONFIG_JSON)) expect(r.err).not.toContain(secret)
  })

  test('broken JSON is reported with its line, and then nothing is imported: exit 1', async () => {
    const f = files({ 'config.json': '{\n  "providers": ["a|https://x.example/v1|sk-aaaaaaaaaaaaaaaaaaaa"],\n  "tokens": [\n}\n' })
    const r = await run('import', f.path('config.json'))
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toContain(`${f.path('config.json')}:4: not imported: not valid JSON\n`)
    expect(r.err).not.toContain('sk-aaaaaaaaaaaaaaaaaaaa')
    expect(r.err).toContain('nothing in')
  })

  test('secrets with YAML and interpolation characters come back exactly', async () => {
    const odd = ['sk-with#hash: and "quotes" 0123', "sk-${NOT_A_VAR}-and-'single'-0123456789", 'sk-ends-with-a-colon-0123456789:']
    const f = files({ 'config.json': JSON.stringify({ tokens: odd.map((k, i) => `user${i}|${k}`), providers: [`p|https://api.example.com/v1|${odd[1]}`] }) })
    const r = await run('import', f.path('config.json'))
    // The first has white space, which a client key may not have.
    expect(r.err).toContain('tokens[0] (user0) not imported: the key contains white space')
    const config = load(r.out)
    expect(config.auth.keys.map((k) => k.key)).toEqual(odd.slice(1))
    expect(config.providers[0]!.keys).toEqual([odd[1]!])
  })
})

describe('sluice import: output, secrets and exit codes', () => {
  test('--out refuses to overwrite without --force; --env-out keeps every secret out of the YAML', async () => {
    const f = files({ '.env': DEEPSEEK_ENV, '.KEY': UNLIMITED_KEYS, 'config.json': CONFIG_JSON, 'sluice.yaml': 'old\n' })
    const sources = [f.path('.env'), f.path('.KEY'), f.path('config.json')]
    const refused = await run('import', ...sources, '--out', f.path('sluice.yaml'))
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('exists; use --force')
    expect(readFileSync(f.path('sluice.yaml'), 'utf8')).toBe('old\n')

    const inline = await run('import', ...sources)
    const r = await run('import', ...sources, '--out', f.path('sluice.yaml'), '--env-out', f.path('sluice.env'), '--force')
    expect(r.code).toBe(0)
    expect(r.out).toBe('')
    const yaml = readFileSync(f.path('sluice.yaml'), 'utf8')
    const envText = readFileSync(f.path('sluice.env'), 'utf8')
    for (const secret of secretsIn(inline.out)) {
      expect(yaml).not.toContain(secret)
      expect(envText).toContain(secret)
    }
    expect(statSync(f.path('sluice.env')).mode & 0o777).toBe(0o600)
    expect(yaml).toContain('key: ${CLIENT_KEY_ALICE}')
    // Loaded with the variables it names, it is the config the inline run gave.
    const env = Object.fromEntries(parseDotenv(envText).flatMap((l) => ('name' in l ? [[l.name, l.value]] : [])))
    const a = load(inline.out)
    const b = load(yaml, env)
    expect(b.providers).toEqual(a.providers)
    expect(b.auth).toEqual(a.auth)
    const skipped = reportLines(r.err).filter((l) => !l.startsWith('sluice import:') && !l.includes(': note: ')).length
    expect(r.err.endsWith(`written to ${f.path('sluice.yaml')} and ${f.path('sluice.env')}; ${skipped} line(s) not imported (listed above)\n`)).toBe(true)

    // --env with --out: the variables go to stdout.
    const toStdout = await run('import', f.path('config.json'), '--env', '--out', f.path('other.yaml'))
    expect(toStdout.code).toBe(0)
    expect(toStdout.out).toContain('CLIENT_KEY_ALICE=sk-alice-000000000000000000001\n')
    expect(readFileSync(f.path('other.yaml'), 'utf8')).not.toContain('sk-alice-000000000000000000001')
  })

  test('usage errors exit 2; a missing file is reported and the others still imported; nothing importable exits 1', async () => {
    const f = files({ '.env': DEEPSEEK_ENV, 'junk.env': 'WORKERS=4\nnot a line\n' })
    expect((await run('import')).code).toBe(2)
    const env = await run('import', f.path('.env'), '--env')
    expect(env.code).toBe(2)
    expect(env.err).toContain('--env-out')
    expect((await run('import', f.path('.env'), '--out', f.path('x'), '--env-out', f.path('x'))).code).toBe(2)
    expect((await run('check', '--out', f.path('x'))).err).toContain('--out only goes with "import"')

    const partly = await run('import', f.path('missing.env'), f.path('.env'))
    expect(partly.code).toBe(0)
    expect(partly.err).toContain(`${f.path('missing.env')}: not imported: cannot read the file (no such file)`)
    expect(load(partly.out).providers).toHaveLength(1)

    const nothing = await run('import', f.path('junk.env'), '--out', f.path('none.yaml'))
    expect(nothing.code).toBe(1)
    expect(nothing.out).toBe('')
    expect(existsSync(f.path('none.yaml'))).toBe(false)
    expect(reportLines(nothing.err)).toEqual([
      `${f.path('junk.env')}:1: WORKERS not imported: sluice has no equivalent setting`,
      `${f.path('junk.env')}:2: not imported: not a NAME=value line`,
      `sluice import: nothing in ${f.path('junk.env')} could be imported (the reasons are above)`,
    ])
  })
})

describe("the README's import example", () => {
  // The section's sample files, its commands run in a shell, and its config: what the import gives.
  const readme = readFileSync(resolve(import.meta.dir, '../../README.md'), 'utf8')
  const section = /\n## Moving over from other proxies\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? ''
  const blocks = (lang: string) => [...section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!)

  test('its commands turn its sample files into its config, and the config checks', async () => {
    expect(section).not.toBe('')
    const dir = mkdtempSync(join(tmpdir(), 'sluice-readme-import-'))
    // The ini block holds several files, each after a `# NAME` line.
    let current: string | null = null
    const written: Record<string, string[]> = {}
    for (const line of blocks('ini')[0]!.split('\n')) {
      const name = /^# (\S+)$/.exec(line)?.[1]
      if (name) written[(current = name)] = []
      else if (current && line !== '') written[current]!.push(line)
    }
    for (const [name, lines] of Object.entries(written)) writeFileSync(join(dir, name), lines.join('\n') + '\n')
    writeFileSync(join(dir, 'config.json'), blocks('json')[0]!)
    expect(Object.keys(written)).toEqual(['.env', '.KEY'])

    // `sluice` on the PATH is this checkout, as `npm install -g` or the binary would be.
    const bin = join(dir, 'bin')
    const entry = resolve(import.meta.dir, '../../src/main.ts')
    await Bun.write(join(bin, 'sluice'), `#!/bin/sh\nexec "${process.execPath}" "${entry}" "$@"\n`)
    chmodSync(join(bin, 'sluice'), 0o755)
    const sh = async (script: string, env: Record<string, string> = {}) => {
      const proc = Bun.spawn(['sh', '-e', '-c', script], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir, ...env }, stdout: 'pipe', stderr: 'pipe' })
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
      return { stdout, stderr, code }
    }
    const commands = blocks('sh')
    expect(commands.join('\n')).toContain('sluice import')
    for (const script of commands) expect(await sh(script)).toMatchObject({ code: 0 })

    // The YAML shown is what was written (the placeholder the user fills given the same value).
    const env = { UPSTREAM_BASE_URL: 'https://upstream.example.com/v1' }
    const shown = parseConfigText(blocks('yaml')[0]!, 'README.yaml', env)
    const written_ = parseConfigText(readFileSync(join(dir, 'sluice.yaml'), 'utf8'), 'sluice.yaml', env)
    expect(written_).toEqual(shown)
    // "check it with `sluice check --config sluice.yaml`", once the base URL is known.
    const check = /`(sluice check --config sluice\.yaml)`/.exec(section)?.[1]
    expect(check).toBeDefined()
    expect(await sh(check!, env)).toMatchObject({ code: 0 })
    expect((await sh(check!)).stderr).toContain('UPSTREAM_BASE_URL')

    // The commands given inline in the text run as well.
    const inline = [...section.matchAll(/`(sluice import (?![^`]*FILE)[^`]*--env-out[^`]*)`/g)].map((m) => m[1]!)
    expect(inline.length).toBeGreaterThan(0)
    for (const command of inline) expect(await sh(`${command} --force`)).toMatchObject({ code: 0 })
    expect(readFileSync(join(dir, 'sluice.yaml'), 'utf8')).not.toContain('sk-bob-0123456789abcdef')
    // "then `set -a; . ./sluice.env; set +a` before `sluice`".
    const load_ = /`(set -a; \. \.\/sluice\.env; set \+a)`/.exec(section)?.[1]
    expect(load_).toBeDefined()
    expect(await sh(`${load_}; ${check}`, env)).toMatchObject({ code: 0 })
  })
})
