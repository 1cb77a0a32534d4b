import { MIN_SECRET_CHARS } from '../../config/key-policy.ts'
import type { ClientKeyDraft, Draft, Finding, ProviderDraft, SettingPath, Sourced } from './draft.ts'
import { detectFormat, parseDotenv, parseList, parseLocatedJson, type Origin } from './sources.ts'

/** A file named on the command line: its text, or why it could not be read. */
export interface ImportInput {
  path: string
  text: string | null
  error?: string
}

/** AssemblyAI's LLM Gateway: OpenAI-compatible chat completions and model list, keys sent in Authorization. */
export const ASSEMBLYAI_BASE_URL = 'https://llm-gateway.assemblyai.com/v1'

/** Names a provider or a key may have in a sluice config (the schema's pattern). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

const BASE_URL_NAMES = ['BASE_URL', 'API_BASE', 'OPENAI_BASE_URL', 'OPENAI_API_BASE', 'API_BASE_URL']
const OUTBOUND_PROXY_NAMES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']
const UPSTREAM_KEY_NAMES = ['API_KEYS', 'TOKEN_POOL']
const CLIENT_KEY_NAMES = ['API_KEY', 'MY_ACCESS_KEY', 'API_PASSWORD']
const LEVELS: Record<string, string> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARNING: 'warn', WARN: 'warn', ERROR: 'error', CRITICAL: 'fatal', FATAL: 'fatal', ALL: 'trace' }

/** Why a name these proxies' .env files use has nothing to become in sluice. */
function envReason(name: string): string {
  if (/^UNLIMITED_TOKEN_/.test(name)) return "the old proxy's own store of session tokens for the web service it fronted; sluice keeps no such tokens"
  if (/^UNLIMITED_PERFORMANCE_|^UNLIMITED_SERVER_(WORKERS|RELOAD|LIMIT_CONCURRENCY|TIMEOUT_KEEP_ALIVE|BACKLOG)$/.test(name)) {
    return "tuning of the old proxy's own web server; sluice has no such setting"
  }
  if (/^UNLIMITED_LOGGING_/.test(name)) return 'sluice writes one JSON line per request to stdout; there are no log files or formats to set'
  if (/^UNLIMITED_API_(TIMEOUT|READ_TIMEOUT|WRITE_TIMEOUT|POOL_TIMEOUT|EMPTY_RESPONSE_TIMEOUT|MAX_TOKEN_RETRIES)$/.test(name)) {
    return 'no equivalent: sluice times an upstream call by timeouts.connect_ms, first_byte_ms, stream_idle_ms and total_ms'
  }
  if (name === 'UNLIMITED_SERVER_CORS_ORIGINS') return "sluice's /v1 routes answer CORS preflights themselves; there is no list of origins"
  if (name === 'UNLIMITED_SERVER_DOCS_ENABLED') return "the old proxy's API docs page; sluice has none for /v1 (admin.docs describes the admin API)"
  if (name === 'UNLIMITED_API_KEY_FILE') return 'names the key file of the old proxy: pass that file (.KEY) to sluice import as well'
  if (name === 'USE_ASSEMBLY' || name === 'CONFIG_OVERRIDE_ENV') return "a switch of the old proxy's own; nothing to set in sluice"
  return 'sluice has no equivalent setting'
}

/** `file:line`, for comments and the report. */
export const where = (at: Origin) => `${at.file}:${at.line}`

/** A URL fit for a report: no user, password or query. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    u.search = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return '(not a URL)'
  }
}

/** A base URL as sluice wants it: http(s), no trailing slash, no `/chat/completions` (some proxies store the endpoint). */
function baseUrl(raw: string): { url: string; endpoint: boolean } | null {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  let text = url.toString().replace(/\/+$/, '')
  const endpoint = /\/chat\/completions$/.test(text)
  if (endpoint) text = text.replace(/\/chat\/completions$/, '')
  return { url: text, endpoint }
}

/** A provider name from the host of its base URL: api.deepseek.com is `deepseek`. */
export function nameFromUrl(url: string | null): string {
  if (!url) return 'upstream'
  let host: string
  try {
    host = new URL(url).hostname
  } catch {
    return 'upstream'
  }
  if (host === 'localhost' || /^[\d.]+$/.test(host) || host.includes(':')) return 'local'
  const labels = host.split('.').filter((l) => l && l !== 'www' && l !== 'api')
  if (labels.length <= 1) return sanitizeName(labels[0] ?? '') ?? 'upstream'
  let i = labels.length - 2
  if (labels.length >= 3 && ['com', 'co', 'net', 'org', 'gov', 'edu', 'ac'].includes(labels[i]!)) i--
  return sanitizeName(labels[i]!) ?? 'upstream'
}

/** Text made into a name sluice accepts (letters, digits, `_ . -`), or null when nothing of it is left. */
export function sanitizeName(text: string): string | null {
  const name = text.trim().replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '')
  return name === '' ? null : name.slice(0, 64)
}

/** A Python `re.search(pattern, model, re.IGNORECASE)` pattern as a JavaScript regular expression source. */
export function pythonRegex(pattern: string): { source: string } | { problem: string } {
  let s = pattern.replace(/^\(\?i\)/, '')
  s = s.replace(/\(\?P<([A-Za-z_]\w*)>/g, '(?<$1>').replace(/\(\?P=([A-Za-z_]\w*)\)/g, '\\k<$1>')
  s = s.replace(/\\A/g, '^').replace(/\\Z/g, '$')
  if (/\(\?[aiLmsux]+\)/.test(s)) return { problem: 'it sets inline flags, which JavaScript regular expressions do not have' }
  // Python matched without regard to case.
  const source = /[A-Za-z]/.test(s) ? `(?i:${s})` : s
  try {
    new RegExp(source)
  } catch (err) {
    return { problem: `not a regular expression JavaScript reads: ${(err as Error).message}` }
  }
  return { source }
}

class Importer {
  readonly draft: Draft = { sources: [], settings: new Map(), clientKeys: [], providers: [], findings: [] }
  private readonly secrets = new Map<string, Origin>()
  private readonly keyNames = new Set<string>()
  private readonly providerNames = new Set<string>()
  /** The rate limit settings of an UnlimitedAI-style .env, which a .KEY file's keys refer to. */
  private readonly limits: {
    enabled?: Sourced<boolean>
    byKey?: Sourced<boolean>
    window?: Sourced<number>
    keyDefault?: Sourced<number>
    /** Which of them something imported depends on. */
    used: Set<string>
  } = { used: new Set() }

  /** Whether a .KEY file is among the inputs (a .env that names one is then taken care of). */
  hasKeyFile = false

  constructor(private readonly now: number) {}

  skip(at: Finding['at'], text: string): void {
    this.draft.findings.push({ at, text, imported: false })
  }

  note(at: Finding['at'], text: string): void {
    this.draft.findings.push({ at, text, imported: true })
  }

  setting(path: SettingPath, value: string | number | boolean, at: Origin, label: string, note?: string): void {
    const before = this.draft.settings.get(path)
    if (before) {
      if (before.value !== value) this.skip(at, `${label} not imported: ${path} already comes from ${where(before.at)}`)
      return
    }
    this.draft.settings.set(path, { value, at, ...(note ? { note } : {}) })
  }

  private uniqueName(wanted: string, taken: Set<string>): string {
    let name = wanted
    for (let n = 2; taken.has(name); n++) name = `${wanted}-${n}`
    taken.add(name)
    return name
  }

  newProvider(wanted: string, at: Origin, from: string): ProviderDraft {
    const provider: ProviderDraft = {
      name: this.uniqueName(wanted, this.providerNames),
      at,
      from,
      baseUrl: null,
      keys: [],
      models: [],
      filters: [],
      proxy: null,
      fakeStream: null,
      comments: [],
    }
    this.draft.providers.push(provider)
    return provider
  }

  /** Adds an upstream key to a provider's pool, once. */
  upstreamKey(provider: ProviderDraft, key: string, at: Origin, label: string): void {
    if (/\s/.test(key)) return this.skip(at, `${label} not imported: a key with white space in it`)
    const same = provider.keys.find((k) => k.value === key)
    if (same) return this.note(at, `${label}: the same upstream key as ${where(same.at)}, in the pool once`)
    provider.keys.push({ value: key, at })
  }

  /** A key the old proxy's users send: a client key of sluice, if sluice can take it. */
  clientKey(input: { label: string; name: string; key: string; at: Origin } & Partial<ClientKeyDraft>): ClientKeyDraft | null {
    const { label, key, at } = input
    const problem = clientKeyProblem(key)
    if (problem) {
      this.skip(at, `${label} not imported: ${problem}`)
      return null
    }
    const seen = this.secrets.get(key)
    if (seen) {
      this.note(at, `${label}: the same client key as ${where(seen)}, imported once`)
      return null
    }
    this.secrets.set(key, at)
    const draft: ClientKeyDraft = { ...input, name: this.uniqueName(input.name, this.keyNames) }
    this.draft.clientKeys.push(draft)
    return draft
  }

  // ---------------------------------------------------------------- .env

  envFile(file: string, text: string): void {
    const values = new Map<string, { value: string; at: Origin }>()
    for (const entry of parseDotenv(text)) {
      const at = { file, line: entry.line }
      if ('problem' in entry) {
        this.skip(at, `not imported: ${entry.problem}`)
        continue
      }
      const before = values.get(entry.name)
      // python-dotenv: the last assignment wins.
      if (before) this.skip(before.at, `${entry.name} not imported: set again on line ${entry.line}, and the later value wins`)
      values.set(entry.name, { value: entry.value, at })
    }
    const take = (name: string) => {
      const v = values.get(name)
      values.delete(name)
      return v
    }
    const empty = (name: string, v: { value: string; at: Origin }) => {
      if (v.value !== '') return false
      this.skip(v.at, `${name} not imported: it is empty`)
      return true
    }
    const list = (name: string, v: { value: string; at: Origin }) => {
      const items = parseList(v.value)
      if (items === null) this.skip(v.at, `${name} not imported: it starts like a JSON list but is not one (expected ["a","b"] or a,b)`)
      else if (items.length === 0) this.skip(v.at, `${name} not imported: the list is empty`)
      return items && items.length > 0 ? items : null
    }

    // Where the upstream is and how to reach it.
    let base: Sourced<string> | null = null
    for (const name of BASE_URL_NAMES) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      const parsed = baseUrl(v.value)
      if (!parsed) {
        this.skip(v.at, `${name} not imported: expected an http(s) URL`)
        continue
      }
      if (base) {
        if (base.value !== parsed.url) this.skip(v.at, `${name} not imported: the base URL already comes from ${where(base.at)}`)
        continue
      }
      base = { value: parsed.url, at: v.at, note: name }
      if (parsed.endpoint) this.note(v.at, `${name}: the base URL is taken without its /chat/completions`)
    }
    let proxy: Sourced<string> | null = null
    const proxyUrl = take('PROXY_URL')
    if (proxyUrl && !empty('PROXY_URL', proxyUrl)) {
      let url: URL | null = null
      try {
        url = new URL(proxyUrl.value)
      } catch {
        this.skip(proxyUrl.at, 'PROXY_URL not imported: not a URL')
      }
      if (url && /^socks/.test(url.protocol)) {
        this.skip(proxyUrl.at, `PROXY_URL not imported: a ${url.protocol.slice(0, -1)} proxy; sluice's outbound proxy (providers[].proxy) is an HTTP(S) proxy`)
      } else if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
        this.skip(proxyUrl.at, 'PROXY_URL not imported: expected an http(s) URL')
      } else if (url && url.pathname !== '/' && url.pathname !== '') {
        // An outbound HTTP proxy has no path: this one is the upstream behind a reverse proxy.
        const parsed = baseUrl(proxyUrl.value)!
        if (base) this.skip(proxyUrl.at, `PROXY_URL not imported: with a path it is no outbound HTTP proxy but an upstream URL, and the base URL already comes from ${where(base.at)}`)
        else {
          base = { value: parsed.url, at: proxyUrl.at, note: 'PROXY_URL' }
          this.note(proxyUrl.at, 'PROXY_URL has a path, so it is taken as the upstream base URL (a reverse proxy in front of the API), not as an outbound HTTP proxy')
        }
      } else if (url) {
        proxy = { value: proxyUrl.value.replace(/\/+$/, ''), at: proxyUrl.at, note: 'PROXY_URL' }
      }
    }
    for (const name of OUTBOUND_PROXY_NAMES) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      if (proxy) this.skip(v.at, `${name} not imported: the outbound proxy already comes from ${where(proxy.at)}`)
      else if (!/^https?:\/\//.test(v.value)) this.skip(v.at, `${name} not imported: sluice's outbound proxy is an http(s) URL`)
      else proxy = { value: v.value.replace(/\/+$/, ''), at: v.at, note: name }
    }
    // UnlimitedAI's proxy settings: a switch and the proxy for https (or http) requests.
    const proxySwitch = take('UNLIMITED_PROXY_ENABLED')
    const proxyNames = ['UNLIMITED_PROXY_HTTPS', 'UNLIMITED_PROXY_HTTP'].filter((n) => values.has(n))
    for (const name of proxyNames) {
      const v = take(name)!
      if (empty(name, v)) continue
      if (proxySwitch && !truthy(proxySwitch.value)) this.skip(v.at, `${name} not imported: UNLIMITED_PROXY_ENABLED is false`)
      else if (proxy) this.skip(v.at, `${name} not imported: the outbound proxy already comes from ${where(proxy.at)}`)
      else if (!/^https?:\/\//.test(v.value)) this.skip(v.at, `${name} not imported: sluice's outbound proxy is an http(s) URL`)
      else proxy = { value: v.value.replace(/\/+$/, ''), at: v.at, note: name }
    }
    if (proxySwitch && truthy(proxySwitch.value) && proxyNames.length === 0) {
      this.skip(proxySwitch.at, 'UNLIMITED_PROXY_ENABLED not imported: no UNLIMITED_PROXY_HTTPS or UNLIMITED_PROXY_HTTP says which proxy')
    }

    // The upstream keys and models: one provider for this file.
    const fileProviders: ProviderDraft[] = []
    const upstreamKeys: { key: string; at: Origin; name: string }[] = []
    for (const name of UPSTREAM_KEY_NAMES) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      for (const key of list(name, v) ?? []) upstreamKeys.push({ key, at: v.at, name })
    }
    const models = take('AVAILABLE_MODELS')
    if (upstreamKeys.length > 0) {
      const first = upstreamKeys[0]!
      const from = [...new Set(upstreamKeys.map((k) => k.name))].join(' and ')
      const provider = this.newProvider(nameFromUrl(base?.value ?? null), first.at, `${file}: ${from}`)
      provider.comments.push(
        `${from}: the keys the old proxy sent to its upstream, here this provider's pool.`,
        '(Were they the keys your users sent to the old proxy instead, move them to auth.keys.)',
      )
      provider.baseUrl = base
      if (!base) {
        this.note(first.at, `needs a value: ${file} has no base URL (${BASE_URL_NAMES.join(', ')}), so providers[].base_url of "${provider.name}" reads \${${envName(provider.name)}_BASE_URL}; set it to the API the old proxy called`)
      }
      for (const k of upstreamKeys) this.upstreamKey(provider, k.key, k.at, k.name)
      if (models && !empty('AVAILABLE_MODELS', models)) {
        for (const id of list('AVAILABLE_MODELS', models) ?? []) provider.models.push({ value: id, at: models.at })
      }
      fileProviders.push(provider)
    } else {
      const orphans = [base && { name: base.note!, at: base.at }, models && models.value !== '' && { name: 'AVAILABLE_MODELS', at: models.at }]
      for (const o of orphans) {
        if (o) this.skip(o.at, `${o.name} not imported: ${file} has no upstream keys (${UPSTREAM_KEY_NAMES.join(', ')}), so there is no provider to give it to`)
      }
    }

    // AssemblyAI's LLM Gateway, as AMB2API fronts it: a provider of its own.
    const assemblyKeys: { key: string; at: Origin }[] = []
    for (const name of ['ASSEMBLY_API_KEYS', 'ASSEMBLY_API_KEY']) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      for (const key of list(name, v) ?? []) assemblyKeys.push({ key, at: v.at })
    }
    const endpoint = take('ASSEMBLY_ENDPOINT')
    const streaming = take('ENABLE_REAL_STREAMING')
    if (assemblyKeys.length > 0) {
      const provider = this.newProvider('assemblyai', assemblyKeys[0]!.at, `${file}: ASSEMBLY_API_KEYS`)
      provider.comments.push(
        "ASSEMBLY_API_KEYS: keys of AssemblyAI's LLM Gateway, an OpenAI-compatible chat API",
        '(Claude, GPT, Gemini and more behind one key), served like any OpenAI-compatible provider.',
      )
      provider.baseUrl = { value: ASSEMBLYAI_BASE_URL, at: assemblyKeys[0]!.at, note: "AssemblyAI's LLM Gateway" }
      if (endpoint && !empty('ASSEMBLY_ENDPOINT', endpoint)) {
        const parsed = baseUrl(endpoint.value)
        if (parsed) provider.baseUrl = { value: parsed.url, at: endpoint.at, note: 'ASSEMBLY_ENDPOINT' }
        else this.skip(endpoint.at, 'ASSEMBLY_ENDPOINT not imported: expected an http(s) URL')
      }
      if (streaming && !empty('ENABLE_REAL_STREAMING', streaming)) {
        if (!truthy(streaming.value)) provider.fakeStream = { value: true, at: streaming.at, note: 'ENABLE_REAL_STREAMING=false: asked without streaming, replayed as a stream' }
      }
      for (const k of assemblyKeys) this.upstreamKey(provider, k.key, k.at, 'ASSEMBLY_API_KEYS')
      this.note(assemblyKeys[0]!.at, `ASSEMBLY_API_KEYS: imported as the provider "${provider.name}" (AssemblyAI's OpenAI-compatible LLM Gateway, ${shownUrl(provider.baseUrl.value)})`)
      fileProviders.push(provider)
    } else {
      if (endpoint) this.skip(endpoint.at, `ASSEMBLY_ENDPOINT not imported: there are no ASSEMBLY_API_KEYS in ${file}`)
      if (streaming) this.skip(streaming.at, `ENABLE_REAL_STREAMING not imported: there are no ASSEMBLY_API_KEYS in ${file}`)
    }
    if (proxy) {
      if (fileProviders.length === 0) this.skip(proxy.at, `${proxy.note} not imported: an outbound proxy, but ${file} defines no upstream to use it for`)
      for (const p of fileProviders) p.proxy = proxy
    }

    // The keys the old proxy's users send to it.
    for (const name of CLIENT_KEY_NAMES) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      const keys = list(name, v) ?? []
      keys.forEach((key, i) => {
        const label = keys.length > 1 ? `${name} (entry ${i + 1})` : name
        this.clientKey({ label, name: name.toLowerCase() + (keys.length > 1 ? `_${i + 1}` : ''), key, at: v.at })
      })
    }

    // Settings.
    const retries = (name: string) => {
      const v = take(name)
      if (!v || empty(name, v)) return
      const n = Number(v.value)
      if (!Number.isInteger(n) || n < 0) return this.skip(v.at, `${name} not imported: expected a whole number, got "${v.value}"`)
      const attempts = Math.min(n + 1, 20)
      if (attempts < n + 1) this.note(v.at, `${name}: sluice makes at most 20 attempts; retry.max_attempts is 20`)
      this.setting('retry.max_attempts', attempts, v.at, name, `${name}=${n}: ${n} ${n === 1 ? 'retry' : 'retries'} after the first attempt`)
    }
    retries('MAX_RETRIES')
    retries('UNLIMITED_API_MAX_RETRIES')
    const host = (name: string) => {
      const v = take(name)
      if (v && !empty(name, v)) this.setting('server.host', v.value, v.at, name, name)
    }
    host('HOST')
    host('UNLIMITED_SERVER_HOST')
    const port = (name: string) => {
      const v = take(name)
      if (!v || empty(name, v)) return
      const n = Number(v.value)
      if (!Number.isInteger(n) || n < 0 || n > 65535) return this.skip(v.at, `${name} not imported: expected a port number, got "${v.value}"`)
      this.setting('server.port', n, v.at, name, `${name}: clients keep the port they use`)
    }
    port('PORT')
    port('UNLIMITED_SERVER_PORT')
    const level = (name: string) => {
      const v = take(name)
      if (!v || empty(name, v)) return
      const levels = v.value.split(',').map((l) => LEVELS[l.trim().toUpperCase()]).filter(Boolean)
      const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
      const lowest = levels.sort((a, b) => order.indexOf(a!) - order.indexOf(b!))[0]
      if (!lowest) return this.skip(v.at, `${name} not imported: "${v.value}" is not a level sluice has (${order.join(', ')})`)
      this.setting('log.level', lowest, v.at, name, name)
    }
    level('LOG_LEVEL')
    level('UNLIMITED_LOGGING_LEVEL')
    const seconds = (name: string, path: SettingPath, min: number) => {
      const v = take(name)
      if (!v || empty(name, v)) return
      const s = Number(v.value)
      if (!(s >= 0) || !Number.isFinite(s)) return this.skip(v.at, `${name} not imported: expected a number of seconds, got "${v.value}"`)
      this.setting(path, Math.max(min, Math.round(s * 1000)), v.at, name, `${name}=${v.value} seconds`)
    }
    seconds('UNLIMITED_SERVER_TIMEOUT_GRACEFUL_SHUTDOWN', 'server.shutdown_grace_ms', 0)
    seconds('UNLIMITED_SERVER_REQUEST_TIMEOUT', 'timeouts.total_ms', 1)
    seconds('UNLIMITED_API_CONNECT_TIMEOUT', 'timeouts.connect_ms', 1)
    for (const [name, path] of [['UNLIMITED_API_INITIAL_RETRY_DELAY_MS', 'retry.initial_delay_ms'], ['UNLIMITED_API_MAX_RETRY_DELAY_MS', 'retry.max_delay_ms']] as const) {
      const v = take(name)
      if (!v || empty(name, v)) continue
      const n = Number(v.value)
      if (!Number.isInteger(n) || n < 0) this.skip(v.at, `${name} not imported: expected a whole number of milliseconds, got "${v.value}"`)
      else this.setting(path, n, v.at, name, name)
    }
    const protection = take('UNLIMITED_API_KEY_PROTECTION')
    if (protection && !empty('UNLIMITED_API_KEY_PROTECTION', protection) && !truthy(protection.value)) {
      this.setting('auth.required', false, protection.at, 'UNLIMITED_API_KEY_PROTECTION', 'UNLIMITED_API_KEY_PROTECTION=false: anyone may use the gateway without a key')
    }
    const panel = take('PANEL_PASSWORD')
    if (panel && !empty('PANEL_PASSWORD', panel)) {
      if (panel.value.length < MIN_SECRET_CHARS) {
        this.skip(panel.at, `PANEL_PASSWORD not imported: shorter than ${MIN_SECRET_CHARS} characters, which sluice refuses for admin.token (sluice makes an admin token on its first start)`)
      } else this.setting('admin.token', panel.value, panel.at, 'PANEL_PASSWORD', 'PANEL_PASSWORD: the admin token logs in to the dashboard, as the panel password did')
    }
    // The rate limits a .KEY file's keys take by default.
    const flag = (name: string) => {
      const v = take(name)
      return v && !empty(name, v) ? { value: truthy(v.value), at: v.at } : undefined
    }
    const count = (name: string) => {
      const v = take(name)
      if (!v || empty(name, v)) return undefined
      const n = Number(v.value)
      if (!Number.isInteger(n) || n < 1) {
        this.skip(v.at, `${name} not imported: expected a whole number above 0, got "${v.value}"`)
        return undefined
      }
      return { value: n, at: v.at }
    }
    for (const [field, name] of [['enabled', 'UNLIMITED_RATE_LIMIT_ENABLED'], ['byKey', 'UNLIMITED_RATE_LIMIT_BY_KEY']] as const) {
      const v = flag(name)
      if (v && this.limits[field]) this.skip(v.at, `${name} not imported: it already comes from ${where(this.limits[field].at)}`)
      else if (v) this.limits[field] = v
    }
    for (const [field, name] of [['window', 'UNLIMITED_RATE_LIMIT_WINDOW'], ['keyDefault', 'UNLIMITED_RATE_LIMIT_KEY_DEFAULT']] as const) {
      const v = count(name)
      if (v && this.limits[field]) this.skip(v.at, `${name} not imported: it already comes from ${where(this.limits[field].at)}`)
      else if (v) this.limits[field] = v
    }
    const ip = count('UNLIMITED_RATE_LIMIT_IP')
    if (ip) {
      this.limits.used.add('enabled')
      if (this.limits.enabled && !this.limits.enabled.value) this.skip(ip.at, 'UNLIMITED_RATE_LIMIT_IP not imported: UNLIMITED_RATE_LIMIT_ENABLED is false')
      else {
        this.limits.used.add('window')
        const window = this.limits.window?.value ?? 60
        this.setting('limits.ip_rpm', Math.max(1, Math.round((ip.value * 60) / window)), ip.at, 'UNLIMITED_RATE_LIMIT_IP', `UNLIMITED_RATE_LIMIT_IP=${ip.value} per ${window} s, per client address`)
      }
    }

    if (this.hasKeyFile) values.delete('UNLIMITED_API_KEY_FILE')
    for (const [name, v] of values) this.skip(v.at, `${name} not imported: ${envReason(name)}`)
  }

  // ---------------------------------------------------------------- .KEY

  /** Lines `NAME=KEY=EXPIRY[=LIMIT]`, read as the UnlimitedAI proxy reads them (api_key.py). */
  keyFile(file: string, text: string): void {
    text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim()
      const at = { file, line: i + 1 }
      if (line === '' || line.startsWith('#')) return
      const parts = line.split('=')
      if (parts.length < 2) return this.skip(at, 'not imported: expected NAME=KEY=EXPIRY[=LIMIT]')
      const label = parts[0]!.trim() || `line ${i + 1}`
      const key = parts[1]!.trim()
      if (key === '') return this.skip(at, `${label} not imported: the key is empty`)
      const problem = clientKeyProblem(key)
      if (problem) return this.skip(at, `${label} not imported: ${problem}`)
      if (parts.length > 4) this.note(at, `${label}: fields after the fourth are ignored, as the old proxy ignored them`)
      // The old proxy: no expiry field is permanent; a date is parsed as its midnight and the key refused from then on.
      const expiry = (parts[2] ?? 'permanent').trim()
      let expiresAt: Sourced<string> | undefined
      if (expiry.toLowerCase() !== 'permanent') {
        const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(expiry)
        const day = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN
        if (!m || Number.isNaN(day) || new Date(day).toISOString().slice(0, 10) !== expiry) {
          // Quoted only when it looks like a date: a key with = in it spills into this field.
          const shown = /^[\d/.-]{6,10}$/.test(expiry) ? `"${expiry}"` : 'in the third field'
          return this.skip(at, `${label} not imported: the expiry ${shown} is neither permanent nor a date YYYY-MM-DD (the old proxy skipped this line too)`)
        }
        expiresAt = { value: `${expiry}T00:00:00Z`, at, note: `${expiry}: the old proxy refused the key from the start of that day (server time)` }
        if (day <= this.now) this.note(at, `${label}: expired on ${expiry}; imported as an expired key`)
      }
      const rpm = this.keyRate(parts[3], at, label)
      if (rpm === null) return
      this.clientKey({ label, name: sanitizeName(label.toLowerCase().replaceAll('_', '-')) ?? `key-${i + 1}`, key, at, ...(expiresAt ? { expiresAt } : {}), ...(rpm ? { rpm } : {}) })
    })
  }

  /**
   * The requests per minute of a .KEY line's limit field: `no_limit` none, `rate_limit:N` N per
   * window, `rate_limit` or nothing the global default (UNLIMITED_RATE_LIMIT_KEY_DEFAULT per
   * UNLIMITED_RATE_LIMIT_WINDOW seconds). Undefined: no limit; null: the line is not imported.
   */
  private keyRate(field: string | undefined, at: Origin, label: string): Sourced<number> | undefined | null {
    const setting = (field ?? '').trim().toLowerCase()
    if (setting === 'no_limit' || setting.startsWith('no_limit:')) return undefined
    this.limits.used.add('window')
    const window = this.limits.window?.value ?? 60
    const perMinute = (n: number) => Math.max(1, Math.round((n * 60) / window))
    const custom = /^rate_limit:\s*(\d+)$/.exec(setting)
    if (custom && Number(custom[1]) > 0) {
      const n = Number(custom[1])
      return { value: perMinute(n), at, note: window === 60 ? `rate_limit:${n}` : `rate_limit:${n} per ${window} s` }
    }
    const explicit = setting.startsWith('rate_limit')
    // The global setting: limited unless rate limiting (or its per-key part) is off.
    if (!explicit) {
      this.limits.used.add('enabled').add('byKey')
      if ((this.limits.enabled && !this.limits.enabled.value) || (this.limits.byKey && !this.limits.byKey.value)) return undefined
    }
    this.limits.used.add('keyDefault')
    const fallback = this.limits.keyDefault
    if (!fallback) {
      this.skip(
        at,
        `${label} not imported: its limit is the old proxy's default (UNLIMITED_RATE_LIMIT_KEY_DEFAULT in its .env), which is not among the files given; import that .env with it, or give the key a limit here (rate_limit:N or no_limit)`,
      )
      return null
    }
    return { value: perMinute(fallback.value), at, note: `the old proxy's default, UNLIMITED_RATE_LIMIT_KEY_DEFAULT (${where(fallback.at)})` }
  }

  // ---------------------------------------------------------------- config.json

  /** The JSON config of the proxies that take `providers: ["name|url|key"]` and `tokens: ["desc|token"]`. */
  jsonFile(file: string, text: string): void {
    const doc = parseLocatedJson(text)
    if ('problem' in doc) return this.skip({ file, line: doc.line }, `not imported: ${doc.problem}`)
    const at = (...path: (string | number)[]) => ({ file, line: doc.lineOf(path) })
    const root = doc.value
    if (!root || typeof root !== 'object' || Array.isArray(root)) return this.skip(at(), 'not imported: expected a JSON object')
    const data = root as Record<string, unknown>
    const stringList = (name: string): { value: string; index: number }[] => {
      const v = data[name]
      if (v === undefined) return []
      if (!Array.isArray(v)) {
        this.skip(at(name), `${name} not imported: expected a list`)
        return []
      }
      const out: { value: string; index: number }[] = []
      v.forEach((item, index) => {
        if (typeof item === 'string') {
          if (item.trim() !== '' && !item.trim().startsWith('#')) out.push({ value: item, index })
        } else {
          this.skip(at(name, index), `${name}[${index}] not imported: expected a string`)
        }
      })
      return out
    }

    // supported_models: Python regular expressions matched with re.search, ignoring case, against every provider's models.
    const filters: Sourced<string>[] = []
    for (const { value, index } of stringList('supported_models')) {
      const regex = pythonRegex(value)
      if ('problem' in regex) this.skip(at('supported_models', index), `supported_models[${index}] not imported: ${regex.problem}`)
      else filters.push({ value: regex.source, at: at('supported_models', index) })
    }

    const providers = new Map<string, ProviderDraft>()
    const entries = Array.isArray(data.providers) ? (data.providers as unknown[]) : []
    if (data.providers !== undefined && !Array.isArray(data.providers)) this.skip(at('providers'), 'providers not imported: expected a list')
    entries.forEach((item, index) => {
      const where_ = at('providers', index)
      const label = `providers[${index}]`
      let name: string, url: string, key: string, modelList: unknown[] | null = null
      if (typeof item === 'string') {
        if (item.trim() === '' || item.trim().startsWith('#')) return
        const parts = item.split('|')
        if (parts.length !== 3) return this.skip(where_, `${label} not imported: expected "name|url|key" (three fields), got ${parts.length}`)
        ;[name, url, key] = parts.map((p) => p.trim()) as [string, string, string]
      } else if (item && typeof item === 'object' && !Array.isArray(item)) {
        const o = item as Record<string, unknown>
        if (typeof o.provider !== 'string' || typeof o.baseurl !== 'string' || typeof o.token !== 'string') {
          return this.skip(where_, `${label} not imported: expected "provider", "baseurl" and "token" as strings`)
        }
        ;[name, url, key] = [o.provider.trim(), o.baseurl.trim(), o.token.trim()]
        if (o.model_list !== undefined) {
          if (Array.isArray(o.model_list) && o.model_list.every((m) => typeof m === 'string')) modelList = o.model_list
          else this.skip(at('providers', index, 'model_list'), `${label}.model_list not imported: expected a list of model ids`)
        }
        for (const extra of Object.keys(o).filter((k) => !['provider', 'baseurl', 'token', 'model_list'].includes(k))) {
          this.skip(at('providers', index, extra), `${label}.${extra} not imported: not a field the old proxy read`)
        }
      } else return
      if (!name) return this.skip(where_, `${label} not imported: the provider has no name`)
      if (!key) return this.skip(where_, `${label} not imported: the provider has no key`)
      const parsed = baseUrl(url)
      if (!parsed) return this.skip(where_, `${label} not imported: "${shownUrl(url)}" is not an http(s) URL`)
      const id = `${name}\n${parsed.url}`
      let provider = providers.get(id)
      if (!provider) {
        const wanted = sanitizeName(name) ?? `provider-${index + 1}`
        const clash = [...providers.values()].find((p) => p.from === `${file}: ${name}`)
        provider = this.newProvider(wanted, where_, `${file}: ${name}`)
        provider.baseUrl = { value: parsed.url, at: where_ }
        if (provider.name !== name) {
          this.note(where_, `${label}: the provider "${name}" is named "${provider.name}" here (${clash ? 'another entry has its name with another URL' : 'sluice names have letters, digits and _ . - only'}); its models are addressed as ${provider.name}/<model>`)
        }
        if (parsed.endpoint) this.note(where_, `${label}: the base URL is taken without its /chat/completions`)
        provider.filters = [...filters]
        providers.set(id, provider)
      } else if (providers.get(id)!.keys.length === 1) {
        provider.comments.push(`Several "${name}|${shownUrl(parsed.url)}" entries: one provider, their keys a pool.`)
      }
      this.upstreamKey(provider, key, where_, label)
      if (modelList) {
        for (const m of modelList as string[]) {
          if (filters.length > 0 && !filters.some((f) => new RegExp(f.value).test(m))) {
            this.note(at('providers', index, 'model_list'), `${label}.model_list: "${m}" left out, as no supported_models pattern matches it`)
          } else if (!provider.models.some((x) => x.value === m)) provider.models.push({ value: m, at: at('providers', index, 'model_list') })
        }
        // An explicit list is already filtered; the patterns would only widen it.
        provider.filters = []
      }
    })
    if (filters.length > 0 && providers.size === 0) {
      for (const f of filters) this.skip(f.at, 'supported_models not imported: there are no providers in this file to filter')
    }

    stringList('tokens').forEach(({ value, index }) => {
      const where_ = at('tokens', index)
      const parts = value.split('|')
      if (parts.length !== 2) return this.skip(where_, `tokens[${index}] not imported: expected "description|token" (two fields), got ${parts.length}`)
      const description = parts[0]!.trim()
      const token = parts[1]!.trim()
      if (!token) return this.skip(where_, `tokens[${index}] not imported: the token is empty`)
      // A description that is no sluice name as it stands (spaces aside) gives a plain one; it is kept as metadata.
      const plain = sanitizeName(description)
      const name = plain && plain === description.replace(/\s+/g, '-') ? plain : `token-${index + 1}`
      this.clientKey({ label: `tokens[${index}] (${description || 'no description'})`, name, key: token, at: where_, ...(name !== description ? { metadata: { description } } : {}) })
    })

    if (data.host !== undefined) {
      if (typeof data.host === 'string' && data.host.trim()) this.setting('server.host', data.host.trim(), at('host'), 'host', 'host')
      else this.skip(at('host'), 'host not imported: expected a host name or address')
    }
    if (data.port !== undefined) {
      const n = Number(data.port)
      if (Number.isInteger(n) && n >= 0 && n <= 65535) this.setting('server.port', n, at('port'), 'port', 'port: clients keep the port they use')
      else this.skip(at('port'), 'port not imported: expected a port number')
    }
    if (data.log_level !== undefined) {
      const level = typeof data.log_level === 'string' ? LEVELS[data.log_level.toUpperCase()] : undefined
      if (level) this.setting('log.level', level, at('log_level'), 'log_level', 'log_level')
      else this.skip(at('log_level'), 'log_level not imported: not a level sluice has')
    }
    if (data.max_response_size !== undefined) {
      const n = Number(data.max_response_size)
      if (Number.isInteger(n) && n >= 1024) this.setting('upstream.max_body_bytes', n, at('max_response_size'), 'max_response_size', 'max_response_size: the largest upstream answer')
      else this.skip(at('max_response_size'), 'max_response_size not imported: expected a number of bytes, 1024 or more')
    }
    const reasons: Record<string, string> = {
      max_connections: "tuning of the old proxy's connection pool; sluice has no such setting",
      max_keepalive_connections: "tuning of the old proxy's connection pool; sluice has no such setting",
      keepalive_expiry: "tuning of the old proxy's connection pool; sluice has no such setting",
      stream_timeout: 'sluice has one timeouts.total_ms for streamed and other requests, plus stream_idle_ms between events; set them by hand',
      non_stream_timeout: 'sluice has one timeouts.total_ms for streamed and other requests; set it by hand',
    }
    const handled = new Set(['providers', 'tokens', 'supported_models', 'host', 'port', 'log_level', 'max_response_size'])
    for (const name of Object.keys(data).filter((k) => !handled.has(k))) {
      this.skip(at(name), `${name} not imported: ${reasons[name] ?? 'not a setting sluice has an equivalent for'}`)
    }
  }

  finish(): Draft {
    const names = { enabled: 'UNLIMITED_RATE_LIMIT_ENABLED', byKey: 'UNLIMITED_RATE_LIMIT_BY_KEY', window: 'UNLIMITED_RATE_LIMIT_WINDOW', keyDefault: 'UNLIMITED_RATE_LIMIT_KEY_DEFAULT' } as const
    for (const field of ['enabled', 'byKey', 'window', 'keyDefault'] as const) {
      const v = this.limits[field]
      if (v && !this.limits.used.has(field)) this.skip(v.at, `${names[field]} not imported: a rate limit setting for the keys of a .KEY file, and nothing imported here depends on it`)
    }
    return this.draft
  }
}

/** Why sluice cannot take a key as a client key, or null. */
function clientKeyProblem(key: string): string | null {
  if (/\s/.test(key)) return 'the key contains white space, which sluice does not accept in a client key'
  if (key.length < MIN_SECRET_CHARS) {
    return `the key is shorter than ${MIN_SECRET_CHARS} characters, which sluice refuses for a client key; give its users a new one (sluice keys create)`
  }
  return null
}

function truthy(value: string): boolean {
  return /^(1|true|yes|on)$/i.test(value.trim())
}

/** An environment variable name made from a provider or key name. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'X'
}

/** Reads the files (.env first, then config.json, then .KEY files, whose keys may refer to a .env's defaults). */
export function importSources(inputs: readonly ImportInput[], now = Date.now()): Draft {
  const importer = new Importer(now)
  const typed = inputs.map((input) => ({ ...input, format: input.text === null ? null : detectFormat(input.path, input.text) }))
  importer.draft.sources = inputs.map((i) => i.path)
  importer.hasKeyFile = typed.some((i) => i.format === 'key')
  for (const input of typed) {
    if (input.text === null) importer.skip({ file: input.path }, `not imported: cannot read the file (${input.error ?? 'unknown error'})`)
  }
  for (const format of ['env', 'json', 'key'] as const) {
    for (const input of typed) {
      if (input.format !== format) continue
      if (format === 'env') importer.envFile(input.path, input.text!)
      else if (format === 'json') importer.jsonFile(input.path, input.text!)
      else importer.keyFile(input.path, input.text!)
    }
  }
  const draft = importer.finish()
  // The report in the order of the command line, then of the lines.
  const order = new Map(inputs.map((i, n) => [i.path, n]))
  draft.findings.sort((a, b) => (order.get(a.at.file)! - order.get(b.at.file)!) || ((a.at.line ?? 0) - (b.at.line ?? 0)))
  return draft
}
