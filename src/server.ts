import type { DestinationStream } from 'pino'
import { bootstrapSecrets, type BootstrapResult } from './bootstrap.ts'
import { diffConfigs } from './config/diff.ts'
import { ConfigError } from './config/load.ts'
import type { Config } from './config/schema.ts'
import { KeyDirectory } from './gateway/client-keys.ts'
import { createConnectWatch } from './gateway/connect-watch.ts'
import { createGateway } from './gateway/gateway.ts'
import type { RequestRecord } from './gateway/record.ts'
import { buildRuntime } from './gateway/runtime.ts'
import { createApp } from './http/app.ts'
import type { Deps, ReloadResult } from './http/deps.ts'
import { createLogger, type Logger } from './observability/logger.ts'
import { logRequest } from './observability/request-log.ts'
import { createClientKeyStore } from './storage/client-key-store.ts'
import { openDatabase } from './storage/database.ts'
import { createSettingsStore } from './storage/settings-store.ts'
import { createUpstreamKeyStore } from './storage/upstream-key-store.ts'
import { VERSION } from './version.ts'

export interface ServerOptions {
  /** Log destination (tests capture lines here); stdout by default. */
  logDestination?: DestinationStream
  pretty?: boolean
  /** Reads the config again for a reload (SIGHUP, admin API); without it reload is refused. */
  reloadConfig?: () => Config
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
  return [...config.providers.flatMap((p) => p.keys), ...config.auth.keys.map((k) => k.key), config.admin.token ?? ''].filter(
    (s) => s.length > 0,
  )
}

/** Builds every part from the config and starts listening. */
export async function startServer(initialConfig: Config, options: ServerOptions = {}): Promise<RunningServer> {
  let config = initialConfig
  const secrets = new Set<string>(secretsOf(config))
  const logger = createLogger({
    level: config.log.level,
    pretty: options.pretty,
    destination: options.logDestination,
    secrets: () => secrets,
  })
  const startedAt = Date.now()
  const database = await openDatabase(config.database.url, config.database.auth_token)
  const keyStore = createClientKeyStore(database.db)
  const upstreamKeys = createUpstreamKeyStore(database.db)
  const boot = await bootstrapSecrets(config, createSettingsStore(database.db), keyStore)

  const directory = new KeyDirectory(config.auth.keys)
  directory.replaceStored(await keyStore.list())

  const runtimeOptions = { now: Date.now }
  const runtime = buildRuntime(config, logger, { ...runtimeOptions, disabled: await upstreamKeys.listDisabled() })
  runtime.catalog.start()
  const gateway = createGateway(runtime, { connectWatch: createConnectWatch(), keyStates: upstreamKeys, logger, now: Date.now })

  let reloading: Promise<ReloadResult> | null = null
  async function reload(): Promise<ReloadResult> {
    if (!options.reloadConfig) return { ok: false, problems: ['this server was started without a config source to reload'] }
    let next: Config
    try {
      next = options.reloadConfig()
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      logger.error({ problems: err.problems }, 'config reload refused; the last good config stays in force')
      return { ok: false, problems: err.problems }
    }
    const changes = diffConfigs(config, next)
    // Keys that changed may have been disabled: what was persisted about old ones stays harmless.
    gateway.swap(buildRuntime(next, logger, { ...runtimeOptions, disabled: await upstreamKeys.listDisabled() }, gateway.runtime()))
    directory.replaceStatic(next.auth.keys)
    logger.level = next.log.level
    for (const s of secretsOf(next)) secrets.add(s)
    config = next
    logger.info({ changes }, 'config reloaded')
    return { ok: true, changes }
  }

  let server: ReturnType<typeof Bun.serve> | null = null
  let draining = false
  const deps: Deps = {
    config: () => config,
    gateway,
    keys: directory,
    logger,
    now: Date.now,
    async health() {
      const databaseOk = await database.ping()
      const ok = databaseOk && !draining
      return {
        ok,
        body: {
          status: draining ? 'shutting_down' : !databaseOk ? 'degraded' : 'ok',
          version: VERSION,
          uptime_s: Math.round((Date.now() - startedAt) / 1000),
          database: { reachable: databaseOk },
          providers: gateway.providers(),
        },
      }
    },
    onRequestDone: (record: RequestRecord, latencyMs: number) => logRequest(logger, record, latencyMs),
    keepOpen(request) {
      server?.timeout(request, 0)
    },
    adminTokenHash: () => boot.adminTokenHash,
    reload: () => (reloading ??= reload().finally(() => (reloading = null))),
  }
  const app = createApp(deps)
  server = Bun.serve({
    hostname: config.server.host,
    port: config.server.port,
    // Above our own limit, so the 413 comes from the gateway in the API's error shape.
    maxRequestBodySize: config.server.max_body_bytes * 4 + 1024 * 1024,
    fetch: (request) => app.fetch(request),
  })
  const url = `http://${formatHost(config.server.host)}:${server.port}`
  logger.info(
    { url, version: VERSION, providers: config.providers.map((p) => p.name), database: redactDbUrl(config.database.url) },
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
        gateway.runtime().catalog.stop()
        database.close()
        logger.info('stopped')
        logger.flush()
      })()
      return stopping
    },
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
