import type { DestinationStream } from 'pino'
import { ADMIN_TOKEN_SETTING, bootstrapSecrets, type BootstrapResult } from './bootstrap.ts'
import { sha256Hex } from './lib/crypto.ts'
import { diffConfigs } from './config/diff.ts'
import { ConfigError } from './config/load.ts'
import { selfLoopProblems } from './config/self-loop.ts'
import type { Config } from './config/schema.ts'
import { KeyDirectory } from './gateway/access/client-keys.ts'
import { createConnectWatch } from './gateway/upstream/connect-watch.ts'
import { createGateway, type Gateway } from './gateway/gateway.ts'
import { buildRuntime, type Runtime } from './gateway/runtime.ts'
import { AdapterModules } from './adapters/modules.ts'
import { AccountDirectory } from './adapters/accounts.ts'
import { createAccountStore } from './storage/account-store.ts'
import { createAdapterKvStore } from './storage/adapter-kv-store.ts'
import { createApp } from './http/app.ts'
import type { Deps, ReloadResult } from './http/deps.ts'
import { createLogging, type Logger } from './observability/logger.ts'
import { secretScrubber } from './observability/logger.ts'
import { createGatewayMetrics } from './gateway-metrics.ts'
import { createRequestSink } from './request-sink.ts'
import { createRequestWriter } from './storage/request-writer.ts'
import { createUsageQueries } from './storage/usage-queries.ts'
import { Sessions } from './http/sessions.ts'
import { Traces } from './http/traces.ts'
import { createClientKeyStore } from './storage/client-key-store.ts'
import { openDatabase } from './storage/database.ts'
import { createSettingsStore } from './storage/settings-store.ts'
import { createUpstreamKeyStore, type DisabledKeyRow } from './storage/upstream-key-store.ts'
import { createResponseStore } from './storage/response-store.ts'
import { StateFlusher, storageFields } from './server/state-flusher.ts'
import { ClientKeySync } from './server/client-key-sync.ts'
import { dotenvReport } from './config/dotenv.ts'
import { VERSION } from './version.ts'
import { Limiter, type Limits } from './gateway/access/limits/limiter.ts'
import { createSharedState, type SharedState } from './server/shared-state.ts'
import { MemoryLimitStore, type CountedLimitStore } from './gateway/access/limits/store.ts'
import { FileLimitStore } from './scale/limits-file.ts'
import { hostname } from 'node:os'
import { ipMatcher } from './lib/cidr.ts'
import { periodStart } from './lib/periods.ts'
import { createUsageStore, USAGE_CUT_KEY } from './storage/usage-store.ts'
import { isBusy } from './storage/storage-errors.ts'
import { createManagedStore } from './storage/managed-store.ts'
import { createInstanceStore, startHeartbeat } from './storage/instance-store.ts'
import { ManagedConfig } from './server/managed-config.ts'
import { secretKeySource } from './server/secret-key.ts'
import { SealError } from './lib/seal.ts'

/** This process among several instances: host and process id (shown in /health and the logs). */
export const INSTANCE_ID = `${hostname()}:${process.pid}`

/** How often the client-key version is checked: edits from other processes apply this fast. */
const KEY_POLL_MS = 250
/** How often the dashboard-managed entries' version is checked. */
const MANAGED_POLL_MS = 1000
/** Bun's default idle timeout, restored on a connection once its long request is over. */
const IDLE_TIMEOUT_S = 10
/** How often quota usage and last-use times are written. */
const FLUSH_MS = 1000
/** How long start-up waits for Redis before serving with the failure policy. */
const REDIS_START_WAIT_MS = 2000
/** How often this instance writes its heartbeat (the admin API's instances). */
const HEARTBEAT_MS = 5000

export interface ServerOptions {
  /** Log destination (tests capture lines here); stdout by default. */
  logDestination?: DestinationStream
  pretty?: boolean
  /** Reads the config again for a reload (SIGHUP, admin API); without it reload is refused. */
  reloadConfig?: () => Config
  /** The clock of rate limits, quotas and key expiry (tests move it instead of sleeping). */
  now?: () => number
  /** Where SLUICE_SECRET_KEY is read from; the process environment by default. */
  env?: Record<string, string | undefined>
  /**
   * One of `server.workers` processes sharing the port: limits go through the shared limits file
   * (unless Redis holds them), and only worker 0 runs the periodic jobs.
   */
  worker?: { index: number; limitsFile: string }
}

export interface RunningServer {
  url: string
  port: number
  logger: Logger
  /** Secrets created on this start (first run), to be shown to the user once. */
  created: BootstrapResult['created']
  reload(): Promise<ReloadResult>
  /** Stops accepting, lets requests and streams finish within the grace period, closes everything. */
  stop(): Promise<void>
}

function secretsOf(config: Config): string[] {
  return [...config.providers.flatMap((p) => p.keys), ...config.auth.keys.map((k) => k.key), config.admin.token ?? '', config.database.auth_token ?? '', ...redisSecrets(config)].filter(
    (s) => s.length > 0,
  )
}

/** The password of the Redis URL, as written and decoded. */
function redisSecrets(config: Config): string[] {
  if (!config.redis) return []
  try {
    const { password } = new URL(config.redis.url)
    return password ? [password, decodeURIComponent(password)] : []
  } catch {
    return []
  }
}

/** Builds every part from the config and starts listening. */
export async function startServer(initialConfig: Config, options: ServerOptions = {}): Promise<RunningServer> {
  // The file's (or environment's) config, and the one in force: that one with the dashboard's entries merged in.
  let fileConfig = initialConfig
  let config = initialConfig
  const secrets = new Set<string>(secretsOf(config))
  const scrub = secretScrubber(() => secrets)
  const { logger, line } = createLogging({
    level: config.log.level,
    pretty: options.pretty,
    destination: options.logDestination,
    scrub,
  })
  // One clock for everything the gateway decides by time (a test may move it); waits during
  // shutdown measure real time.
  const clock = options.now ?? Date.now
  const startedAt = clock()
  // The heartbeat's start time is the wall clock's, whatever clock the gateway runs on.
  const startedAtWall = Date.now()
  const database = await openDatabase(config.database.url, config.database.auth_token, { poolSize: config.database.pool_size })
  // Writes the request path triggers (last use, usage, disabled keys) go through `background`: one
  // short try, queued again on failure. A lock held by another process never holds the event loop.
  const keyStore = createClientKeyStore(database.db, database.client, database.background)
  const upstreamKeys = createUpstreamKeyStore(database.db, database.background)
  const storedResponses = createResponseStore(database.background, logger)
  // First-start secrets are made only once the server listens (below): a start that fails must not
  // store secrets nobody was shown. Until then no admin token matches.
  let boot: BootstrapResult = { adminTokenHash: '', created: {} }

  let managed: ManagedConfig
  try {
    const keySource = secretKeySource(options.env ?? process.env, config.secrets.key_file, database.filePath)
    managed = new ManagedConfig(createManagedStore(database.db, database.client), keySource, logger, () => applyManaged())
    await managed.load()
  } catch (err) {
    database.close()
    if (err instanceof SealError) throw new ConfigError(config.source ?? 'defaults and environment', [err.message])
    throw err
  }
  // Accounts of module and flow providers: pool members whose credentials are sealed like the dashboard's keys.
  const accounts = new AccountDirectory(createAccountStore(database.db, database.client), () => ({ seal: (p) => managed.sealer().seal(p), open: managed.open }), logger, clock, () => applyManaged())
  await accounts.load()
  /** Merges the stored entries and accounts into a file config; every secret they hold is scrubbed from logs from now on. */
  const inForce = (file: Config): Config => {
    const merged = managed.merge(file)
    for (const s of merged.secrets) secrets.add(s)
    return accounts.withAccounts(merged.config)
  }
  config = inForce(fileConfig)

  const usageStore = createUsageStore(database.background)
  // Workers of one machine count in one file (Redis, when configured, is shared anyway).
  const memoryStore = options.worker && !config.redis ? null : new MemoryLimitStore()
  const fileStore = memoryStore ? null : new FileLimitStore(options.worker!.limitsFile, options.worker!.index)
  const limitStore: CountedLimitStore = memoryStore ?? fileStore!
  for (const row of await usageStore.since(clock() - 32 * 86_400_000)) limitStore.load(row.keyId, row.periodStart, row.usage)
  const now = clock
  // With Redis, every instance shares the client keys' limits; the memory store stays the fallback.
  const shared: SharedState | null = config.redis ? createSharedState(config.redis, { local: memoryStore!, logger, now }) : null
  const limiter: Limits = shared?.limiter ?? new Limiter(limitStore, now)

  await keyStore.syncConfigKeys(config.auth.keys)
  const directory = new KeyDirectory(now)
  const keySync = new ClientKeySync(keyStore, directory, logger)
  // A change made here is told to the other instances at once (their poll is the safety net).
  const refreshKeys = async () => {
    await keySync.refresh()
    shared?.clientKeysChanged()
  }
  await refreshKeys()
  keySync.start(KEY_POLL_MS)
  managed.start(MANAGED_POLL_MS)
  accounts.start(MANAGED_POLL_MS)
  const state = new StateFlusher({ limits: limitStore, usage: usageStore, keys: keyStore, others: [upstreamKeys, storedResponses], logger, ledger: shared?.limiter.ledger })
  const flush = () => state.flush()
  const flusher = setInterval(() => void flush(), FLUSH_MS)
  // Follows the config on reload.
  let trusted = ipMatcher(config.server.trusted_proxies)

  const runtimeOptions = { now: clock }
  // What adapters keep per account, sealed in the database (memory only when nothing can seal it).
  const adapterValues = createAdapterKvStore(database.db, database.background, () => {
    try {
      return { seal: (p: string) => managed.sealer().seal(p), open: managed.open }
    } catch {
      return null
    }
  }, clock, (err) => logger.error({ err: err.message }, 'could not write an adapter value'))
  const modules = new AdapterModules({ logger, now: clock, accounts, kv: (provider, account) => adapterValues.forAccount(provider, account) })
  /** The runtime of a config: its adapter files loaded (again, if changed) first; throws ConfigError. */
  async function runtimeFor(next: Config, previous?: Runtime): Promise<Runtime> {
    const prepared = await modules.prepare(next)
    if (prepared.problems.length > 0) throw new ConfigError(next.source ?? 'defaults and environment', prepared.problems)
    return buildRuntime(next, logger, { ...runtimeOptions, disabled: await upstreamKeys.listDisabled(), adapters: prepared.adapters }, previous)
  }
  let runtime: Runtime
  try {
    runtime = await runtimeFor(config)
  } catch (err) {
    // Nothing may keep the process alive after a start that failed.
    keySync.stop()
    managed.stop()
    accounts.stop()
    clearInterval(flusher)
    shared?.close()
    database.close()
    throw err
  }
  runtime.catalog.start()
  const gateway = createGateway(runtime, {
    responses: storedResponses,
    connectWatch: createConnectWatch(),
    keyStates: upstreamKeys,
    limiter,
    logger,
    now: clock,
    onOutcome: (provider, outcome) => metrics.attempt(provider, outcome),
    onKeyEvent: shared ? (event) => shared.upstreamKey(event) : undefined,
  })
  // The live tail's watchers; with Redis, rows from the other instances reach them too.
  const listeners = new Set<(row: unknown) => void>()
  shared?.link({
    liveRow(row) {
      for (const listener of listeners) listener(row)
    },
    seedCut: (from) => usageStore.seedCut(from),
    // The cut row must exist before a seed bumps it: a save that finds none is not ordered against the seed.
    ensureCut: async () => void (await createSettingsStore(database.db).claim(USAGE_CUT_KEY, '0')),
    quotaKeys: async () => (await keyStore.list()).flatMap((k) => (k.revokedAt === null && k.policy.quota ? [{ id: k.id, quota: k.policy.quota }] : [])),
    applyKeyEvent: (event) => void gateway.applyKeyEvent(event),
    refreshClientKeys: () => keySync.refresh(),
    syncDisabledKeys: async () => syncDisabledKeys(gateway, await upstreamKeys.listDisabled()),
  })
  // The first requests are shared ones when Redis answers soon; start-up never waits for longer.
  await shared?.ready(REDIS_START_WAIT_MS)

  /** After an edit in the dashboard (here or in another process): the merged config goes in force. */
  async function applyManaged(): Promise<void> {
    const next = inForce(fileConfig)
    const changes = diffConfigs(config, next)
    gateway.swap(await runtimeFor(next, gateway.runtime()))
    config = next
    logger.info({ providers: changes.providers, aliases: changes.aliases, keys: changes.keys }, 'dashboard-managed config applied')
  }

  let reloading: Promise<ReloadResult> | null = null
  async function reload(): Promise<ReloadResult> {
    if (!options.reloadConfig) return { ok: false, problems: ['this server was started without a config source to reload'] }
    let next: Config
    let nextRuntime: Runtime
    try {
      const file = options.reloadConfig()
      next = inForce(file)
      // Keys that changed may have been disabled: what was persisted about old ones stays harmless.
      nextRuntime = await runtimeFor(next, gateway.runtime())
      fileConfig = file
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      logger.error({ problems: err.problems }, 'config reload refused; the last good config stays in force')
      return { ok: false, problems: err.problems }
    }
    const changes = diffConfigs(config, next)
    gateway.swap(nextRuntime)
    await keyStore.syncConfigKeys(next.auth.keys)
    await refreshKeys()
    logger.level = next.log.level
    for (const s of secretsOf(next)) secrets.add(s)
    if (changes.settings_applied.includes('server.trusted_proxies')) trusted = ipMatcher(next.server.trusted_proxies)
    // A token in the file is the admin token; without one, the stored (generated) one stays.
    if (changes.settings_applied.includes('admin.token')) {
      boot = { ...boot, adminTokenHash: next.admin.token ? sha256Hex(next.admin.token) : ((await createSettingsStore(database.db).get(ADMIN_TOKEN_SETTING)) ?? boot.adminTokenHash) }
    }
    config = next
    logger.info({ changes }, 'config reloaded')
    return { ok: true, changes }
  }

  const writer = createRequestWriter(database, {
    filePath: database.filePath ?? undefined,
    maxQueue: config.logging.queue_size,
    // Small batches: the file path writes a batch synchronously, ~10 µs a row, so a batch is a
    // pause of every request in flight (500 rows: p99 at 64 concurrent requests +4 ms).
    batchSize: 100,
    flushMs: 500,
    onError: (err, failures) => {
      if ((failures & (failures - 1)) === 0) logger.error({ ...storageFields(err), failures }, 'could not write the request log; will retry')
    },
    onRecovered: (failures) => logger.info({ failures }, 'request log written again'),
    onLost: (count, reason) => logger.error({ lost: count, err: reason }, 'request log rows could not be written before exit and are lost'),
    onDropped: (count) => {
      // Logged at powers of two, so a flood does not flood the log too.
      if ((count & (count - 1)) === 0) logger.warn({ dropped: count }, 'request log queue full: records dropped')
    },
  })
  writer.start()
  const usage = createUsageQueries(database)
  const instances = createInstanceStore(database.db, database.background)
  let heartbeat: { stop(): Promise<void> } | null = null
  let traces: Traces | null = null
  const metrics = createGatewayMetrics({
    keyStates: () => gateway.providers().map((p) => ({ provider: p.name, ...p.keys })),
    inflight: () => traces?.inflight ?? { requests: 0, streams: 0 },
    queue: () => ({ depth: writer.depth, dropped: writer.dropped, lost: writer.lost }),
    redis: shared ? () => shared.metrics() : undefined,
    instance: { id: INSTANCE_ID, worker: options.worker?.index },
  })
  const sink = createRequestSink({
    config: () => config,
    line,
    writer,
    metrics,
    scrub,
    publish(row) {
      const share = shared?.live.wanted() ?? false
      if (listeners.size === 0 && !share) return
      const tagged = { ...row, instance: INSTANCE_ID }
      for (const listener of listeners) listener(tagged)
      if (share) shared!.live.publish(tagged)
    },
  })
  // Periodic jobs run once per machine: in the only process, or in worker 0.
  const runsJobs = !options.worker || options.worker.index === 0
  const retention = setInterval(() => void (runsJobs && prune()), 3_600_000)
  async function prune(): Promise<void> {
    try {
      const removed = await usage.prune(clock() - config.logging.retention_days * 86_400_000)
      if (removed > 0) logger.info({ removed }, 'request log pruned')
      const expired = await storedResponses.prune()
      if (expired > 0) logger.info({ removed: expired }, 'expired stored responses pruned')
      await adapterValues.prune()
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'could not prune the request log')
    }
  }
  if (runsJobs) void prune()

  let server: ReturnType<typeof Bun.serve> | null = null
  let draining = false
  const deps: Deps = {
    config: () => config,
    fileConfig: () => fileConfig,
    managed,
    accounts,
    modules,
    listening: () => (server ? { host: config.server.host, port: server.port! } : null),
    gateway,
    responses: storedResponses,
    keys: directory,
    keyStore,
    limiter,
    refreshKeys,
    keyUsed: (id) => state.keyUsed(id, clock()),
    async usageOf(key) {
      const q = key.policy.quota
      if (!q) return null
      const start = periodStart(now(), q.period, q.resetTime, q.timezone)
      const u = shared ? await shared.limiter.usage(key.id, start) : limitStore.usage(key.id, start)
      return { period_start: new Date(start).toISOString(), requests: u.requests, tokens: u.tokens, cost_usd: u.costUsd }
    },
    clientIp(request) {
      const peer = server?.requestIP(request)?.address ?? null
      if (peer === null || !trusted(peer)) return peer
      // Behind trusted proxies: the last address in X-Forwarded-For that is not one of them.
      const chain = (request.headers.get('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
      for (let i = chain.length - 1; i >= 0; i--) if (!trusted(chain[i]!)) return chain[i]!
      return chain[0] ?? peer
    },
    logger,
    now: clock,
    async health() {
      const databaseOk = await database.ping()
      const storage = database.health.report()
      // Failing writes leave the gateway serving (they are queued), so it stays ready: degraded, 200.
      const ok = databaseOk && !draining
      return {
        ok,
        body: {
          // A paused model (its circuit open) is a degraded gateway: some requests cannot be served as asked.
          // So is one whose limits are not shared (or are refused) while Redis cannot be reached.
          status: draining ? 'shutting_down' : !databaseOk || !storage.writable || gateway.providers().some((p) => p.circuit !== 'closed') || (shared && !shared.healthy()) ? 'degraded' : 'ok',
          version: VERSION,
          instance: { id: INSTANCE_ID, ...(options.worker ? { worker: options.worker.index } : {}) },
          uptime_s: Math.round((clock() - startedAt) / 1000),
          database: { reachable: databaseOk, ...storage },
          providers: gateway.providers(),
          ...(shared ? { redis: shared.health() } : {}),
        },
      }
    },
    onRequestDone: sink,
    usage,
    live: {
      subscribe(listener) {
        listeners.add(listener)
        shared?.live.watchers(listeners.size)
        return () => {
          listeners.delete(listener)
          shared?.live.watchers(listeners.size)
        }
      },
    },
    metricsText: () => metrics.render(),
    uptimeSeconds: () => Math.round((clock() - startedAt) / 1000),
    sessions: new Sessions(12 * 3_600_000),
    keepOpen(request) {
      server?.timeout(request, 0)
    },
    releaseOpen(request) {
      try {
        server?.timeout(request, IDLE_TIMEOUT_S)
      } catch {
        // the connection is already gone
      }
    },
    adminTokenHash: () => boot.adminTokenHash,
    instances: { self: INSTANCE_ID, list: () => instances.list(Date.now()) },
    reload: () => (reloading ??= reload().finally(() => (reloading = null))),
  }
  traces = new Traces(deps)
  const app = createApp(deps, traces)
  function stopTimers(): void {
    keySync.stop()
    managed.stop()
    accounts.stop()
    clearInterval(flusher)
    clearInterval(retention)
    // After the requests drained: their settles have been sent.
    shared?.close()
  }
  /** Writes what the request log holds, then lets go of the catalog's refreshes and the database. */
  async function closeStorage(): Promise<void> {
    try {
      await writer.stop()
      await storedResponses.flush().catch((err) => logger.error({ err: (err as Error).message }, 'could not write the stored responses'))
    } finally {
      gateway.runtime().catalog.stop()
      fileStore?.close()
      database.close()
    }
  }
  /** A start that failed: nothing may keep the process alive. */
  async function abandon(): Promise<void> {
    stopTimers()
    await closeStorage().catch(() => {})
  }
  try {
    server = Bun.serve({
      // Workers share the port; the kernel spreads connections over them.
      reusePort: options.worker !== undefined,
      hostname: config.server.host,
      port: config.server.port,
      // Above our own limit, so the 413 comes from the gateway in the API's error shape.
      maxRequestBodySize: config.server.max_body_bytes * 4 + 1024 * 1024,
      // The composed handler, taken once.
      fetch: app.compile().fetch,
    })
  } catch (err) {
    await abandon()
    throw err
  }
  const loops = selfLoopProblems(config.providers, { host: config.server.host, port: server.port! })
  if (loops.length > 0) {
    server.stop(true)
    await abandon()
    throw new ConfigError(config.source ?? 'defaults and environment', loops)
  }
  try {
    boot = await bootstrapSecrets(config, createSettingsStore(database.db), keyStore)
    if (boot.created.clientKey) await refreshKeys()
  } catch (err) {
    server.stop(true)
    await abandon()
    throw err
  }
  const url = `http://${formatHost(config.server.host)}:${server.port}`
  // Written on a timer with one short try, off the request path; a failed beat is the next one.
  heartbeat = startHeartbeat(
    instances,
    () => ({
      id: INSTANCE_ID,
      host: hostname(),
      version: VERSION,
      worker: options.worker?.index ?? null,
      startedAt: startedAtWall,
      inflightRequests: traces?.inflight.requests ?? 0,
      inflightStreams: traces?.inflight.streams ?? 0,
      requestsPerMinute: metrics.requestsPerMinute(),
    }),
    Date.now,
    HEARTBEAT_MS,
    everyPowerOfTwo((err, count) => logger.warn({ ...storageFields(err), count }, 'could not write this instance\'s heartbeat')),
  )
  // A .env in the working directory is read by the runtime on its own: say so, and name what it set.
  const dotenv = dotenvReport()
  for (const f of dotenv.files) logger.info({ file: f.path, names: f.names }, 'environment read from a .env file')
  if (dotenv.foreign.length > 0) {
    logger.warn({ names: dotenv.foreign }, 'these .env names are from other proxies and mean nothing to sluice; `sluice import .env` turns them into a config (README: moving over)')
  }
  logger.info(
    // Which file was read matters: a sluice.yaml in the working directory is picked up on its own.
    { url, version: VERSION, config: config.source ?? 'none (defaults and environment)', providers: config.providers.map((p) => p.name), database: redactDbUrl(config.database.url) },
    'sluice listening',
  )

  let stopping: Promise<void> | null = null
  return {
    url,
    port: server.port!,
    logger,
    created: boot.created,
    reload: deps.reload,
    stop() {
      stopping ??= (async () => {
        draining = true
        const grace = config.server.shutdown_grace_ms
        logger.info({ grace_ms: grace, in_flight: server!.pendingRequests }, 'shutting down: draining requests')
        // stop(false) stops accepting but would also wait for idle keep-alive connections, so
        // watch the requests themselves and close the rest once they are done.
        void server!.stop(false)
        const deadline = Date.now() + grace
        while (server!.pendingRequests > 0 && Date.now() < deadline) await Bun.sleep(20)
        if (server!.pendingRequests > 0) {
          logger.warn({ in_flight: server!.pendingRequests }, 'grace period over: closing remaining connections')
        }
        await server!.stop(true)
        stopTimers()
        await heartbeat?.stop()
        // Every completed request reaches the database before the process exits, unless it fails:
        // a lock is waited out for a while (sleeping), then what could not be written is counted.
        const saveBy = Date.now() + 5000
        let failed = await flush()
        while (failed && isBusy(failed) && Date.now() < saveBy) {
          await Bun.sleep(50)
          failed = await flush()
        }
        if (failed) {
          logger.error(
            { ...storageFields(failed), ...state.pending, disabled_keys: upstreamKeys.pending },
            'key usage could not be saved before exit and is lost',
          )
        }
        await closeStorage()
        logger.info('stopped')
        logger.flush()
      })()
      return stopping
    },
  }
}

/** A failure reported at its 1st, 2nd, 4th, 8th... time. */
function everyPowerOfTwo(report: (err: Error, count: number) => void): (err: Error) => void {
  let count = 0
  return (err) => {
    count++
    if ((count & (count - 1)) === 0) report(err, count)
  }
}

function formatHost(host: string): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return shown.includes(':') ? `[${shown}]` : shown
}

/** A libSQL server URL may carry credentials in its query; a file path is safe to show. */
function redactDbUrl(url: string): string {
  return url.replace(/\?.*$/, '')
}

/**
 * Puts the database's disabled upstream keys in force, and re-enables the ones it no longer holds:
 * for an instance that may have missed what the others said while it was disconnected.
 */
function syncDisabledKeys(gateway: Gateway, rows: readonly DisabledKeyRow[]): void {
  const stored = new Set(rows.map((r) => `${r.provider}\u0000${r.fingerprint}`))
  for (const r of rows) gateway.applyKeyEvent({ kind: 'disabled', provider: r.provider, fingerprint: r.fingerprint, reason: r.reason })
  for (const p of gateway.providerKeys()) {
    for (const k of p.keys_detail) {
      if (k.state === 'disabled' && !stored.has(`${p.name}\u0000${k.fingerprint}`)) gateway.applyKeyEvent({ kind: 'enabled', provider: p.name, fingerprint: k.fingerprint })
    }
  }
}
