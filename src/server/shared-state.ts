import type { RedisConfig } from '../config/schema.ts'
import type { MemoryLimitStore } from '../gateway/access/limits/store.ts'
import type { UpstreamKeyEvent } from '../gateway/routing/key-events.ts'
import { randomToken } from '../lib/crypto.ts'
import type { Logger } from '../observability/logger.ts'
import { createBroadcast, createLiveRelay, type Broadcast, type LiveRelay } from '../scale/redis/broadcast.ts'
import { createRedis, type RedisState } from '../scale/redis/client.ts'
import { RedisLimitStore } from '../scale/redis/limit-store.ts'
import { SharedLimiter } from '../scale/shared-limiter.ts'
import { createResync, type ResyncParts } from './redis-resync.ts'

export interface SharedStateParts {
  /** The in-memory limits: the fallback, and this instance's usage for the database. */
  local: MemoryLimitStore
  logger: Logger
  now: () => number
}

/** What the rest of the server gives once it is built (the resync and the messages need it). */
export interface SharedStateLinks extends Pick<ResyncParts, 'seedCut' | 'ensureCut' | 'quotaKeys'> {
  /** Another instance learned this about an upstream key. */
  applyKeyEvent(event: UpstreamKeyEvent): void
  /** The client keys changed (another instance said so, or a reconnect may have missed it). */
  refreshClientKeys(): Promise<void>
  /** Disabled upstream keys as the database has them, put in force (after a reconnect). */
  syncDisabledKeys(): Promise<void>
  /** A request summary from another instance, for this one's live-tail watchers. */
  liveRow?(row: Record<string, unknown>): void
}

export interface SharedState {
  limiter: SharedLimiter
  /** Where Redis is, without credentials, for logs. */
  target: string
  /** Starts the resync and the messages, once the parts they use exist. */
  link(links: SharedStateLinks): void
  /** Tells the other instances (once linked). */
  upstreamKey(event: UpstreamKeyEvent): void
  clientKeysChanged(): void
  /** The live tail across instances: whether anyone watches anywhere, a row to share, how many watch here. */
  live: Pick<LiveRelay, 'wanted' | 'publish' | 'watchers'>
  /** Resolves once Redis answers, or false after `withinMs`. */
  ready(withinMs: number): Promise<boolean>
  healthy(): boolean
  health(): { state: RedisState; policy: RedisConfig['on_failure']; fallback: boolean }
  metrics(): { up: boolean; fallback: number; refused: number }
  close(): void
}

/** Failed calls that were no outage are logged at 1, 2, 4, 8... so that a flood does not flood the log. */
function everyPowerOfTwo(log: (count: number) => void): () => void {
  let count = 0
  return () => {
    count++
    if ((count & (count - 1)) === 0) log(count)
  }
}

/** The host and port of a Redis URL: its user and password are never shown. */
export function redisTarget(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}`
  } catch {
    return 'redis'
  }
}

/** Several instances, one Redis: shared limits, key events and client-key changes, and a resync at every connect. */
export function createSharedState(config: RedisConfig, parts: SharedStateParts): SharedState {
  const { logger } = parts
  const target = redisTarget(config.url)
  const instanceId = randomToken(12)
  const redis = createRedis({ url: config.url, timeoutMs: config.timeout_ms })
  const store = new RedisLimitStore(redis, { instanceId })
  const limiter = new SharedLimiter({
    store,
    redis,
    local: parts.local,
    policy: config.on_failure,
    now: parts.now,
    onError: everyPowerOfTwo((count) => logger.warn({ redis: target, count }, 'a Redis call for the shared limits failed; counted per instance for now')),
    onLacking: () => resync?.soon(),
  })
  let broadcast: Broadcast | null = null
  let resync: ReturnType<typeof createResync> | null = null
  let relay: LiveRelay | null = null
  // Watchers counted before the link are told once it exists.
  let watchers = 0
  function link(links: SharedStateLinks): void {
    broadcast = createBroadcast(redis, instanceId, {
      upstreamKey: (event) => links.applyKeyEvent(event),
      clientKeysChanged: () => void links.refreshClientKeys().catch((err) => logger.warn({ err: (err as Error).message }, 'could not refresh client keys')),
    })
    relay = createLiveRelay(redis, instanceId, { row: (row) => links.liveRow?.(row) })
    relay.watchers(watchers)
    resync = createResync({
      store,
      limiter,
      seedCut: links.seedCut,
      ensureCut: links.ensureCut,
      quotaKeys: links.quotaKeys,
      catchUp: async () => {
        await links.syncDisabledKeys()
        await links.refreshClientKeys()
      },
      logger,
      now: parts.now,
    })
    // A connect made before the link missed its resync.
    if (redis.healthy) resync.run()
  }

  // One line per change between shared and not: a flapping Redis logs its flaps, not every request.
  let shared: boolean | null = null
  const stopWatching = redis.watch({
    state(state) {
      const up = state === 'up'
      if (up === shared) return
      const first = shared === null
      shared = up
      if (up) logger.info({ redis: target }, first ? 'Redis connected: limits are shared' : 'Redis reachable again: limits are shared again')
      else logger.warn({ redis: target, state, on_failure: config.on_failure }, unsharedMessage(config.on_failure, 'Redis unreachable'))
    },
    resync: () => resync?.run(),
  })

  return {
    limiter,
    target,
    link,
    upstreamKey: (event) => broadcast?.upstreamKey(event),
    clientKeysChanged: () => broadcast?.clientKeysChanged(),
    live: {
      wanted: () => relay?.wanted() ?? false,
      publish: (row) => relay?.publish(row),
      watchers(count) {
        watchers = count
        relay?.watchers(count)
      },
    },
    async ready(withinMs) {
      const up = await redis.whenUp(withinMs).then(() => true, () => false)
      if (!up && shared === null) {
        shared = false
        logger.warn({ redis: target, on_failure: config.on_failure }, unsharedMessage(config.on_failure, 'Redis did not answer at start-up'))
      }
      return up
    },
    healthy: () => redis.healthy,
    health: () => ({ state: redis.state, policy: config.on_failure, fallback: !redis.healthy && config.on_failure === 'local' }),
    metrics: () => ({ up: redis.healthy, fallback: limiter.counts.fallback, refused: limiter.counts.refused }),
    close() {
      stopWatching()
      resync?.stop()
      broadcast?.close()
      relay?.close()
      store.close()
      redis.close()
    },
  }
}

function unsharedMessage(policy: RedisConfig['on_failure'], why: string): string {
  return policy === 'local'
    ? `${why}: client-key limits are counted per instance until it answers`
    : `${why}: requests of keys with limits are refused (503) until it answers`
}
