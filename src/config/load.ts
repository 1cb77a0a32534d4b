import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import YAML from 'yaml'
import { adapterFor } from '../providers/registry.ts'
import { FLOW_MODULE } from '../providers/module/index.ts'
import { interpolate, InterpolationError } from './interpolate.ts'
import {
  ConfigFile,
  DEFAULT_TIMEOUTS,
  LOG_LEVELS,
  type AliasConfig,
  type Config,
  type LogLevel,
  type ProviderApi,
  type ProviderConfig,
  type StaticKeyConfig,
  type TimeoutsConfig,
} from './schema.ts'
import { describeSchemaErrors } from './errors.ts'
import { MIN_SECRET_CHARS, parseExpiry, policyProblems, toPolicy } from './key-policy.ts'
import { parseCidr } from '../lib/cidr.ts'
import { resolveDatabase, unsharedLimitsProblem } from './shared-database.ts'

/** A config that cannot be used; `problems` name each field and what was expected. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

/** Values given on the command line; they win over everything else. */
export interface ConfigOverrides {
  config?: string
  host?: string
  port?: string
  db?: string
  logLevel?: string
  workers?: string
}

type Env = Record<string, string | undefined>

const AUTO_DETECTED = ['sluice.yaml', 'sluice.yml', 'sluice.json']

/** Resolves the configuration: defaults < file < environment < flags. Throws ConfigError. */
export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env, cwd = process.cwd()): Config {
  const path = overrides.config ?? env.SLUICE_CONFIG ?? AUTO_DETECTED.find((f) => existsSync(resolve(cwd, f)))
  const file = path ? readConfigFile(resolve(cwd, path), env) : {}
  const source = path ? resolve(cwd, path) : 'defaults and environment'
  return freeze(resolveConfig(file, overrides, env, source, path ? resolve(cwd, path) : null, cwd))
}

/**
 * Only the database settings, for commands that need nothing else (`sluice keys`): the file is
 * read with unset `${VAR}`s left empty, so provider secrets need not be in the admin's shell.
 */
export function loadDatabaseConfig(overrides: ConfigOverrides = {}, env: Env = process.env, cwd = process.cwd()): { url: string; auth_token: string | null; source: string | null } {
  const found = overrides.config ?? env.SLUICE_CONFIG ?? AUTO_DETECTED.find((f) => existsSync(resolve(cwd, f)))
  const path = found ? resolve(cwd, found) : null
  let database: { url?: unknown; auth_token?: unknown } = {}
  if (path) {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`])
    }
    let raw: any
    try {
      const expanded = interpolate(text, env, true)
      raw = path.endsWith('.json') ? JSON.parse(expanded) : YAML.parse(expanded)
    } catch (err) {
      throw new ConfigError(path, [`not valid: ${(err as Error).message}`])
    }
    database = raw?.database && typeof raw.database === 'object' ? raw.database : {}
  }
  const url = databaseUrl(overrides.db ?? env.SLUICE_DB, typeof database.url === 'string' ? database.url : undefined, path, cwd)
  const resolved = resolveDatabase(url, { auth_token: typeof database.auth_token === 'string' ? database.auth_token : undefined })
  return { url: resolved.url, auth_token: resolved.auth_token, source: path }
}

/**
 * The database URL with a relative `file:` path made absolute: one given in the shell (flag,
 * SLUICE_DB) from the working directory; one from the config file, or the default when there is a
 * file, next to that file, so that `serve` and `keys` find the same database wherever they run.
 */
export function databaseUrl(fromShell: string | undefined, fromFile: string | undefined, configPath: string | null, cwd: string): string {
  const url = fromShell ?? fromFile ?? 'file:./sluice.db'
  const base = fromShell !== undefined || !configPath ? cwd : dirname(configPath)
  const m = /^file:([^?]*)(\?.*)?$/.exec(url)
  if (!m || m[1] === '' || m[1] === ':memory:' || isAbsolute(m[1]!) || m[1]!.startsWith('//')) return url
  return `file:${resolve(base, m[1]!)}${m[2] ?? ''}`
}

/** Reads, interpolates, parses and validates a config file. Throws ConfigError. */
export function readConfigFile(path: string, env: Env = process.env): ConfigFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`])
  }
  return parseConfigText(text, path, env)
}

export function parseConfigText(text: string, source: string, env: Env = process.env): ConfigFile {
  let expanded: string
  try {
    expanded = interpolate(text, env)
  } catch (err) {
    if (err instanceof InterpolationError) throw new ConfigError(source, [err.message])
    throw err
  }
  let raw: unknown
  try {
    raw = source.endsWith('.json') ? JSON.parse(expanded) : YAML.parse(expanded, { prettyErrors: true })
  } catch (err) {
    throw new ConfigError(source, [`not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`])
  }
  if (raw === null || raw === undefined) raw = {}
  // Interpolated values arrive as strings; Convert turns "8000" into 8000 where a number is expected.
  const converted = Value.Convert(ConfigFile, raw)
  const problems = describeSchemaErrors(ConfigFile, converted)
  if (problems.length > 0) throw new ConfigError(source, problems)
  return converted as ConfigFile
}

function resolveConfig(
  file: ConfigFile,
  flags: ConfigOverrides,
  env: Env,
  source: string,
  path: string | null,
  cwd: string = process.cwd(),
): Config {
  const problems: string[] = []
  const timeouts: TimeoutsConfig = { ...DEFAULT_TIMEOUTS, ...file.timeouts }

  const port = pickPort(flags.port, '--port') ?? pickPort(env.SLUICE_PORT, 'SLUICE_PORT') ?? file.server?.port ?? 8000
  const level = pickLevel(flags.logLevel, '--log-level') ?? pickLevel(env.SLUICE_LOG_LEVEL, 'SLUICE_LOG_LEVEL') ??
    file.log?.level ?? 'info'

  const providers = (file.providers ?? []).map((p, i) => resolveProvider(p, timeouts, `providers[${i}]`, problems, path ? dirname(path) : cwd))
  if (providers.length === 0) providers.push(...providersFromEnv(env, timeouts))
  const seen = new Set<string>()
  providers.forEach((p, i) => {
    if (seen.has(p.name)) problems.push(`providers[${i}].name: "${p.name}" is used by another provider`)
    seen.add(p.name)
  })

  const aliases = (file.aliases ?? []).map((a, i) => resolveAlias(a, `aliases[${i}]`, providers, problems))
  const aliasNames = new Set<string>()
  aliases.forEach((a, i) => {
    if (aliasNames.has(a.name)) problems.push(`aliases[${i}].name: "${a.name}" is used by another alias`)
    aliasNames.add(a.name)
  })

  // A secret short enough to guess is refused where it is written, as the admin API and the CLI refuse one.
  const tooShort = (value: string | undefined | null, at: string) => {
    if (value && value.length < MIN_SECRET_CHARS) problems.push(`${at}: expected at least ${MIN_SECRET_CHARS} characters`)
  }
  tooShort(file.admin?.token, 'admin.token')
  tooShort(env.SLUICE_ADMIN_TOKEN, 'SLUICE_ADMIN_TOKEN')
  const keys = (file.auth?.keys ?? []).map((k, i): StaticKeyConfig => {
    tooShort(typeof k === 'string' ? k : k.key, typeof k === 'string' ? `auth.keys[${i}]` : `auth.keys[${i}].key`)
    if (typeof k === 'string') return { name: `config-key-${i + 1}`, key: k, expiresAt: null, policy: toPolicy({}), metadata: null }
    problems.push(...policyProblems(k, `auth.keys[${i}].`))
    const expiresAt = parseExpiry(k.expires_at)
    return { name: k.name, key: k.key, expiresAt: Number.isNaN(expiresAt) ? null : expiresAt, policy: toPolicy(k), metadata: k.metadata ?? null }
  })
  ;(file.server?.trusted_proxies ?? []).forEach((p, i) => {
    if (!parseCidr(p)) problems.push(`server.trusted_proxies[${i}]: expected an IP address or CIDR range, got "${p}"`)
  })
  const keyNames = new Set<string>()
  keys.forEach((k, i) => {
    if (keyNames.has(k.name)) problems.push(`auth.keys[${i}].name: "${k.name}" is used by another key`)
    keyNames.add(k.name)
  })

  const redis = resolveRedis(file.redis, problems)
  const database = resolveDatabase(databaseUrl(flags.db ?? env.SLUICE_DB, file.database?.url, path, cwd), file.database)
  const unshared = unsharedLimitsProblem(database, redis)
  if (unshared) problems.push(unshared)

  if (problems.length > 0) throw new ConfigError(source, problems)

  return {
    source: path,
    server: {
      host: flags.host ?? env.SLUICE_HOST ?? file.server?.host ?? '127.0.0.1',
      port,
      max_body_bytes: file.server?.max_body_bytes ?? 32 * 1024 * 1024,
      body_timeout_ms: file.server?.body_timeout_ms ?? 30_000,
      shutdown_grace_ms: file.server?.shutdown_grace_ms ?? 30_000,
      trusted_proxies: file.server?.trusted_proxies ?? [],
      workers: pickWorkers(flags.workers, '--workers') ?? pickWorkers(env.SLUICE_WORKERS, 'SLUICE_WORKERS') ?? file.server?.workers ?? 1,
    },
    admin: { token: nonEmpty(env.SLUICE_ADMIN_TOKEN) ?? nonEmpty(file.admin?.token) ?? null, docs: file.admin?.docs ?? false },
    limits: { ip_rpm: file.limits?.ip_rpm ?? null },
    upstream: {
      max_body_bytes: file.upstream?.max_body_bytes ?? 64 * 1024 * 1024,
      max_event_bytes: file.upstream?.max_event_bytes ?? 1024 * 1024,
      max_error_bytes: file.upstream?.max_error_bytes ?? 64 * 1024,
      max_reported_tokens: file.upstream?.max_reported_tokens ?? 10_000_000,
    },
    logging: {
      bodies: file.logging?.bodies ?? 'none',
      sample_rate: file.logging?.sample_rate ?? 1,
      max_body_bytes: file.logging?.max_body_bytes ?? 16 * 1024,
      retention_days: file.logging?.retention_days ?? 30,
      queue_size: file.logging?.queue_size ?? 10_000,
    },
    metrics: { public: file.metrics?.public ?? false },
    prices: file.prices ?? {},
    database,
    secrets: { key_file: file.secrets?.key_file ? resolve(path ? dirname(path) : cwd, file.secrets.key_file) : null },
    redis,
    log: { level },
    auth: { required: file.auth?.required ?? true, keys },
    timeouts,
    retry: {
      max_attempts: file.retry?.max_attempts ?? 3,
      initial_delay_ms: file.retry?.initial_delay_ms ?? 200,
      max_delay_ms: file.retry?.max_delay_ms ?? 5000,
    },
    routing: {
      heartbeat_ms: file.routing?.heartbeat_ms ?? 15_000,
      sticky_ttl_ms: file.routing?.sticky_ttl_ms ?? 3_600_000,
    },
    responses: {
      store_ttl_hours: file.responses?.store_ttl_hours ?? 168,
      max_stored_bytes: file.responses?.max_stored_bytes ?? 4 * 1024 * 1024,
    },
    circuit_breaker: {
      failure_threshold: file.circuit_breaker?.failure_threshold ?? 5,
      open_ms: file.circuit_breaker?.open_ms ?? 30_000,
    },
    providers,
    aliases,
  }

  function pickPort(value: string | undefined, from: string): number | undefined {
    if (value === undefined || value === '') return undefined
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw new ConfigError(source, [`${from}: expected a port number 0-65535, got "${value}"`])
    }
    return n
  }

  function pickWorkers(value: string | undefined, from: string): number | undefined {
    if (value === undefined || value === '') return undefined
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError(source, [`${from}: expected a number of worker processes 1-64, got "${value}"`])
    return n
  }

  function pickLevel(value: string | undefined, from: string): LogLevel | undefined {
    if (value === undefined || value === '') return undefined
    if (!(LOG_LEVELS as readonly string[]).includes(value)) {
      throw new ConfigError(source, [`${from}: expected one of ${LOG_LEVELS.join(', ')}, got "${value}"`])
    }
    return value as LogLevel
  }
}

export function resolveProvider(
  p: NonNullable<ConfigFile['providers']>[number],
  timeouts: TimeoutsConfig,
  at: string,
  problems: string[],
  /** Where a module's relative `path` starts: the config file's folder. */
  baseDir: string = process.cwd(),
): ProviderConfig {
  const adapter = adapterFor(p.type)
  const isFlow = p.type === FLOW_TYPE
  const isModule = p.type === MODULE_TYPE || isFlow
  const baseUrl = (p.base_url ?? adapter.defaultBaseUrl).replace(/\/+$/, '')
  // A module's base_url is its own business (its options may say where it goes); if given, it is a URL.
  if (!isHttpUrl(baseUrl) && !(isModule && baseUrl === '')) problems.push(`${at}.base_url: expected an http(s) URL, got "${p.base_url}"`)
  if (p.type === MODULE_TYPE && !p.path) problems.push(`${at}.path: required for type module (the adapter file)`)
  if (isFlow && !p.flow) problems.push(`${at}.flow: required for type flow (its steps, request and answer)`)
  if (isModule && !p.models) problems.push(`${at}.models: required for type ${p.type} (the model ids it serves)`)
  for (const field of ['path', 'options'] as const) {
    if (p.type !== MODULE_TYPE && p[field] !== undefined) problems.push(`${at}.${field}: only a provider of type module has it`)
  }
  if (!isModule && p.allow_private !== undefined) problems.push(`${at}.allow_private: only a provider of type module or flow has it`)
  if (!isFlow && p.flow !== undefined) problems.push(`${at}.flow: only a provider of type flow has it`)
  // `${KEY:-}` placeholders for keys that are not set leave empty strings: drop them.
  const entries = p.keys.map((k) => (typeof k === 'string' ? { key: k, label: null } : { key: k.key, label: k.label ?? null })).filter((k) => k.key.trim() !== '')
  const keys = entries.map((k) => k.key)
  // A module or flow provider may start with no keys: its pool is the accounts logged in later.
  if (keys.length === 0 && !isModule) problems.push(`${at}.keys: expected at least one non-empty key`)
  if (p.proxy !== undefined && !isHttpUrl(p.proxy)) problems.push(`${at}.proxy: expected an http(s) URL, got "${p.proxy}"`)
  const filters: string[] = []
  const exact: string[] = []
  p.models?.forEach((m, j) => {
    const regex = /^\/(.+)\/$/.exec(m)
    if (!regex) return void exact.push(m)
    try {
      new RegExp(regex[1]!)
      filters.push(regex[1]!)
    } catch (err) {
      problems.push(`${at}.models[${j}]: not a valid regular expression: ${(err as Error).message}`)
    }
  })
  return {
    name: p.name,
    type: p.type,
    base_url: baseUrl,
    keys,
    key_labels: entries.map((k) => k.label),
    // Any pattern means "discover, then filter"; only exact ids make an explicit list.
    models: p.models && filters.length === 0 ? exact : undefined,
    model_filters: filters.length > 0 ? [...filters, ...exact.map(escapeRegex)] : null,
    headers: p.headers ?? {},
    timeouts: { ...timeouts, ...p.timeouts },
    proxy: p.proxy ?? null,
    // A conversation stays on its account where accounts hold conversations (module and flow providers).
    sticky: p.sticky ?? isModule,
    priority: p.priority ?? 0,
    weight: p.weight ?? null,
    max_concurrent_per_key: p.max_concurrent_per_key ?? null,
    fake_stream: p.fake_stream ?? false,
    stream_only: p.stream_only ?? false,
    default_max_tokens: p.default_max_tokens ?? DEFAULT_MAX_TOKENS,
    api: resolveApi(p, at, baseUrl, problems),
    responses_only_models: patterns(p.responses_only_models ?? [], `${at}.responses_only_models`, problems),
    module: isFlow && p.flow ? { path: FLOW_MODULE, options: p.flow, allow_private: p.allow_private ?? false }
      : isModule && p.path ? { path: resolve(baseDir, p.path), options: p.options ?? {}, allow_private: p.allow_private ?? false }
      : null,
  }
}

/** The provider type whose last mile is an adapter file. */
export const MODULE_TYPE = 'module'
/** The provider type described in the config alone, run by the built-in flow adapter. */
export const FLOW_TYPE = 'flow'

/** Hosts whose OpenAI-compatible API also serves Responses, so `api: auto` passes Responses requests through. */
const RESPONSES_HOSTS = [/(^|\.)api\.openai\.com$/, /\.openai\.azure\.com$/, /(^|\.)api\.x\.ai$/, /(^|\.)openrouter\.ai$/]

function resolveApi(p: { type: string; api?: ProviderApi }, at: string, baseUrl: string, problems: string[]): ProviderConfig['api'] {
  if (p.api !== undefined && p.api !== 'auto' && p.type !== 'openai') problems.push(`${at}.api: only a provider of type openai chooses its API`)
  if (p.api && p.api !== 'auto') return p.api
  return defaultApi(baseUrl)
}

export function defaultApi(baseUrl: string): ProviderConfig['api'] {
  let host = ''
  try {
    host = new URL(baseUrl).hostname
  } catch {
    return 'chat'
  }
  return RESPONSES_HOSTS.some((r) => r.test(host)) ? 'both' : 'chat'
}

/** Exact ids and /regular expressions/ as regular expression sources. */
function patterns(list: readonly string[], at: string, problems: string[]): string[] {
  const out: string[] = []
  list.forEach((m, j) => {
    const regex = /^\/(.+)\/$/.exec(m)
    if (!regex) return void out.push(escapeRegex(m))
    try {
      new RegExp(regex[1]!)
      out.push(regex[1]!)
    } catch (err) {
      problems.push(`${at}[${j}]: not a valid regular expression: ${(err as Error).message}`)
    }
  })
  return out
}

const DEFAULT_MAX_TOKENS = 4096

function escapeRegex(value: string): string {
  return '^' + value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$'
}

/**
 * An alias named with `*` (`claude-*`) or as a /regular expression/ covers every model id it
 * matches, so the next model a client defaults to needs no new line.
 */
function aliasPattern(name: string, at: string, problems: string[]): string | null {
  const regex = /^\/(.+)\/$/.exec(name)
  if (regex) {
    try {
      new RegExp(regex[1]!)
      return regex[1]!
    } catch (err) {
      problems.push(`${at}: not a valid regular expression: ${(err as Error).message}`)
      return null
    }
  }
  if (!name.includes('*')) return null
  return '^' + name.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'
}

export function resolveAlias(
  a: NonNullable<ConfigFile['aliases']>[number],
  at: string,
  providers: readonly ProviderConfig[],
  problems: string[],
): AliasConfig {
  const strategy = a.strategy ?? 'fallback'
  a.targets.forEach((target, j) => {
    const provider = target.slice(0, target.indexOf('/'))
    if (!target.includes('/') || !providers.some((p) => p.name === provider)) {
      problems.push(`${at}.targets[${j}]: expected provider/model with a configured provider, got "${target}"`)
    }
  })
  if (a.weights && a.weights.length !== a.targets.length) {
    problems.push(`${at}.weights: expected one weight per target (${a.targets.length}), got ${a.weights.length}`)
  }
  if (strategy === 'weighted' && !a.weights) problems.push(`${at}.weights: required by strategy "weighted"`)
  if (providers.some((p) => a.name.startsWith(p.name + '/'))) {
    problems.push(`${at}.name: "${a.name}" would shadow a provider's models`)
  }
  return {
    name: a.name,
    pattern: aliasPattern(a.name, `${at}.name`, problems),
    targets: a.targets,
    strategy,
    weights: a.weights ?? null,
    sticky: a.sticky ?? false,
    fake_stream: a.fake_stream ?? false,
  }
}

/**
 * Zero-config: OPENAI_API_KEY (and OPENAI_BASE_URL) make a provider named `openai`,
 * ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL) one named `anthropic`, GEMINI_API_KEY or
 * GOOGLE_API_KEY (and GEMINI_BASE_URL) one named `gemini`.
 */
function providersFromEnv(env: Env, timeouts: TimeoutsConfig): ProviderConfig[] {
  const providers: ProviderConfig[] = []
  for (const type of ['openai', 'anthropic', 'gemini'] as const) {
    const prefix = type.toUpperCase()
    const base = (nonEmpty(env[`${prefix}_BASE_URL`]) ?? adapterFor(type).defaultBaseUrl).replace(/\/+$/, '')
    const key = nonEmpty(env[`${prefix}_API_KEY`]) ?? (type === 'gemini' ? nonEmpty(env.GOOGLE_API_KEY) : undefined)
    if (!key) continue
    providers.push({
      name: type,
      type,
      base_url: base,
      keys: key.split(',').map((k) => k.trim()).filter(Boolean),
      key_labels: [],
      model_filters: null,
      headers: {},
      timeouts,
      proxy: null,
      sticky: false,
      fake_stream: false,
      stream_only: false,
      default_max_tokens: DEFAULT_MAX_TOKENS,
      api: type === 'openai' ? defaultApi(base) : 'chat',
      responses_only_models: [],
      module: null,
      priority: 0,
      weight: null,
      max_concurrent_per_key: null,
    })
  }
  return providers
}

/** The `redis` section; its URL is checked without ever being repeated, since it may hold a password. */
function resolveRedis(r: ConfigFile['redis'], problems: string[]): Config['redis'] {
  if (!r) return null
  let url: URL | null = null
  try {
    url = new URL(r.url)
  } catch {
    problems.push('redis.url: expected a redis:// or rediss:// URL')
  }
  if (url && url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    problems.push(`redis.url: expected a redis:// or rediss:// URL, got the scheme "${url.protocol.slice(0, 20)}"`)
  } else if (url && url.hostname === '') {
    problems.push('redis.url: expected a host')
  } else if (url && !/^\/?\d*$/.test(url.pathname)) {
    problems.push('redis.url: expected a database number (or nothing) after the host')
  }
  return { url: r.url, timeout_ms: r.timeout_ms ?? 100, on_failure: r.on_failure ?? 'local' }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

function nonEmpty(value: string | undefined | null): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value
}

function freeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) freeze(v)
  }
  return value
}
