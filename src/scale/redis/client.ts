/**
 * A supervised Redis connection on top of Bun's built-in `RedisClient`, for state that several
 * gateway instances share. Bun's client has traps, each seen for real, and this wrapper is where
 * they are handled:
 *
 * - Its offline queue holds commands issued while Redis is down and sends them after the
 *   reconnect, long after their caller gave up: a rate-limit take counted twice. The queue is off,
 *   so a call made while down fails at once.
 * - A call has no deadline of its own: a hung server holds it forever. Every call here has one
 *   (`timeoutMs`). A script that must not apply late also gets the deadline as an argument, in
 *   Redis's clock (`deadline()`), because the command may still run after the caller stopped waiting.
 * - It stops reconnecting after about 31 s (20 tries, delays capped at 2 s). Bun's own reconnect
 *   is off; the supervisor here recreates both clients with a bounded backoff, forever, until `close()`.
 * - A reconnect does not resubscribe pub/sub channels. Every (re)connect resubscribes all of them
 *   on the subscriber connection and then tells watchers (`resync`), so the owner can catch up
 *   on what it missed while nothing was delivered.
 *
 * In front of the calls sits a circuit breaker: after `failures` failed calls in a row (timeouts,
 * dropped connections; not error replies, which prove the server alive) calls fail fast for
 * `coolOffMs`, then one call is let through as a probe. A periodic `TIME` keeps the clock offset
 * fresh and is the probe when no traffic comes; with it Bun's idle timeout closes a silently dead
 * connection, which the supervisor then replaces.
 */
import { RedisClient } from 'bun'
import { CircuitBreaker } from '../../gateway/routing/circuit-breaker.ts'
import { systemClock, type Clock } from '../../lib/clock.ts'

/** `up`: connected and answering; `open`: connected, but the breaker fails calls fast; `down`: no connection. */
export type RedisState = 'up' | 'down' | 'open'

/**
 * Why a call did not reach an answer. `late`: a script saw its deadline pass and applied nothing;
 * `unseeded`: Redis lost its quota counters and they are not reseeded yet (nothing applied);
 * `moved`: a sync meant for one generation of them found another (nothing applied).
 */
export type UnavailableReason = 'down' | 'open' | 'timeout' | 'closed' | 'late' | 'unseeded' | 'moved'

export class RedisUnavailableError extends Error {
  constructor(readonly reason: UnavailableReason) {
    super(`Redis unavailable: ${reason}`)
    this.name = 'RedisUnavailableError'
  }
}

/** A Lua script, run by SHA (loaded at every connect) with EVAL as the fallback on NOSCRIPT. */
export interface LuaScript {
  name: string
  source: string
  sha: string
}

export function defineScript(name: string, source: string): LuaScript {
  return { name, source, sha: new Bun.CryptoHasher('sha1').update(source).digest('hex') }
}

export interface RedisOptions {
  url: string
  /** The deadline of every call. */
  timeoutMs: number
  /** Failed calls in a row that open the breaker, and how long it stays open before a probe. */
  breaker?: { failures: number; coolOffMs: number }
  /** The supervisor's reconnect delay: doubling from `initialMs` up to `maxMs`, with jitter. */
  reconnect?: { initialMs: number; maxMs: number }
  /** How often a quiet connection is checked; 0 turns the check (and the idle timeout) off. */
  pingEveryMs?: number
  connectTimeoutMs?: number
}

export interface RedisDeps {
  clock?: Clock
  /** For the reconnect jitter. */
  random?: () => number
}

/** Counts since creation, for metrics. `lateReplies`: answers that came after their call timed out. */
export interface RedisCounters {
  calls: number; failures: number; timeouts: number; lateReplies: number
  rejectedDown: number; rejectedOpen: number
  connects: number; connectFailures: number; messages: number
}

export interface RedisWatcher {
  state?(state: RedisState, previous: RedisState): void
  /** After every connect, the first included: subscriptions are back, missed state must be reloaded. */
  resync?(): void
}

export interface CallOptions {
  /** Told of an answer that arrived after the call had already failed with `timeout`. */
  onLateReply?(value: unknown): void
  /**
   * Sent even while the breaker is open, whenever there is a connection: for undoing a late
   * admission, whose answer typically arrives just as the breaker has opened.
   */
  bypassBreaker?: boolean
}

export type PubSubListener = (message: string, channel: string) => void

export interface Redis {
  readonly state: RedisState
  readonly healthy: boolean
  readonly counters: Readonly<RedisCounters>
  /** Redis's clock now (ms), from the offset measured with `TIME`. */
  redisNow(): number
  /** The absolute time, in Redis's clock, after which a script called now must apply nothing. */
  deadline(): number
  send(command: string, args: string[], options?: CallOptions): Promise<unknown>
  evalScript(script: LuaScript, keys: string[], args: string[], options?: CallOptions): Promise<unknown>
  /** Scripts to `SCRIPT LOAD` now and at every connect. */
  load(scripts: LuaScript[]): void
  publish(channel: string, message: string): Promise<number>
  subscribe(channel: string, listener: PubSubListener): Promise<void>
  unsubscribe(channel: string, listener: PubSubListener): Promise<void>
  watch(watcher: RedisWatcher): () => void
  /** Resolves once the state is `up`; rejects after `withinMs`. */
  whenUp(withinMs: number): Promise<void>
  close(): void
}

const DEFAULTS = {
  breaker: { failures: 5, coolOffMs: 1_000 },
  reconnect: { initialMs: 50, maxMs: 2_000 },
  pingEveryMs: 1_000,
  connectTimeoutMs: 2_000,
}

const isServerError = (e: unknown) => (e as { code?: unknown } | null)?.code === 'ERR_REDIS_SERVER_ERROR'
const isNoScript = (e: unknown) => isServerError(e) && String((e as Error).message).startsWith('NOSCRIPT')

/** `p`, or a `timeout` rejection after `ms`; an answer after that goes to `late`. */
function withDeadline<T>(p: Promise<T>, ms: number, timedOut: () => void, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false
    const timer = setTimeout(() => {
      done = true
      timedOut()
      reject(new RedisUnavailableError('timeout'))
    }, ms)
    const finish = (f: () => void) => {
      if (done) return false
      done = true
      clearTimeout(timer)
      f()
      return true
    }
    p.then(
      (value) => {
        if (!finish(() => resolve(value))) late?.(value)
      },
      (e) => finish(() => reject(e)),
    )
  })
}

/** Opens a supervised connection pair (commands and subscriber); it connects in the background. */
export function createRedis(options: RedisOptions, deps: RedisDeps = {}): Redis {
  const clock = deps.clock ?? systemClock
  const random = deps.random ?? Math.random
  const breakerOptions = options.breaker ?? DEFAULTS.breaker
  const backoff = options.reconnect ?? DEFAULTS.reconnect
  const pingEveryMs = options.pingEveryMs ?? DEFAULTS.pingEveryMs
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs
  const breaker = new CircuitBreaker(breakerOptions.failures, breakerOptions.coolOffMs)
  const counters: RedisCounters = { calls: 0, failures: 0, timeouts: 0, lateReplies: 0, rejectedDown: 0, rejectedOpen: 0, connects: 0, connectFailures: 0, messages: 0 }
  const watchers = new Set<RedisWatcher>()
  const scripts = new Map<string, LuaScript>()
  const channels = new Map<string, Set<PubSubListener>>()

  let cmd: RedisClient | null = null
  let sub: RedisClient | null = null
  // Each connection attempt has a number; callbacks of an abandoned pair see a newer one and do nothing.
  let generation = 0
  let attempt = 0
  let offsetMs = 0
  let closed = false
  let state: RedisState = 'down'
  let retryTimer: ReturnType<typeof setTimeout> | null = null

  const tell = (f: (w: RedisWatcher) => void) => {
    for (const w of watchers) {
      // A watcher's failure must not stop the supervisor.
      try {
        f(w)
      } catch {}
    }
  }

  function refresh(): void {
    const next: RedisState = closed || !cmd ? 'down' : breaker.state === 'closed' ? 'up' : 'open'
    if (next === state) return
    const previous = state
    state = next
    tell((w) => w.state?.(next, previous))
  }

  const dispatch: PubSubListener = (message, channel) => {
    counters.messages++
    for (const l of channels.get(channel) ?? []) l(message, channel)
  }

  function newClient(): RedisClient {
    return new RedisClient(options.url, {
      enableOfflineQueue: false,
      autoReconnect: false,
      connectionTimeout: connectTimeoutMs,
      // Counted from the last byte Redis sent: the periodic check keeps a live connection busier than this.
      idleTimeout: pingEveryMs > 0 ? pingEveryMs * 3 + options.timeoutMs : 0,
    })
  }

  async function measureClock(c: RedisClient): Promise<void> {
    const before = clock.now()
    const [s, us] = (await c.send('TIME', [])) as [string, string]
    offsetMs = Number(s) * 1000 + Number(us) / 1000 - (before + clock.now()) / 2
  }

  async function open(): Promise<void> {
    retryTimer = null
    if (closed) return
    const gen = ++generation
    const c = newClient()
    const s = newClient()
    c.onclose = s.onclose = () => lost(gen)
    const subscribed = [...channels.keys()]
    try {
      await withTimeout(Promise.all([c.connect(), s.connect()]), connectTimeoutMs + options.timeoutMs)
      await withTimeout(measureClock(c), options.timeoutMs)
      for (const script of scripts.values()) await withTimeout(c.send('SCRIPT', ['LOAD', script.source]), options.timeoutMs)
      if (subscribed.length > 0) await withTimeout(s.subscribe(subscribed, dispatch), options.timeoutMs)
    } catch {
      counters.connectFailures++
      c.close()
      s.close()
      lost(gen)
      return
    }
    if (gen !== generation) {
      c.close()
      s.close()
      return
    }
    cmd = c
    sub = s
    attempt = 0
    counters.connects++
    breaker.success()
    refresh()
    // Channels added while this pair was being set up.
    const missed = [...channels.keys()].filter((ch) => !subscribed.includes(ch))
    if (missed.length > 0) call(() => sub, (x) => x.subscribe(missed, dispatch)).catch(() => {})
    tell((w) => w.resync?.())
  }

  /** The pair `gen` failed or dropped: abandon it and try again after the backoff. */
  function lost(gen: number): void {
    if (gen !== generation || closed) return
    generation++
    const [c, s] = [cmd, sub]
    cmd = sub = null
    c?.close()
    s?.close()
    refresh()
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt++, 30))
    retryTimer = setTimeout(open, delay * (0.5 + random() / 2))
  }

  const withTimeout = <T>(p: Promise<T>, ms: number, onLate?: (value: T) => void) =>
    withDeadline(p, ms, () => counters.timeouts++, (value) => {
      counters.lateReplies++
      onLate?.(value)
    })

  /** One call through the breaker, with the deadline. */
  async function call<T>(pick: () => RedisClient | null, run: (c: RedisClient) => Promise<T>, callOptions?: CallOptions): Promise<T> {
    if (closed) throw new RedisUnavailableError('closed')
    const c = pick()
    if (!c || !c.connected) {
      counters.rejectedDown++
      throw new RedisUnavailableError('down')
    }
    if (!callOptions?.bypassBreaker && !breaker.allow(clock.now())) {
      counters.rejectedOpen++
      throw new RedisUnavailableError('open')
    }
    counters.calls++
    try {
      const value = await withTimeout(run(c), options.timeoutMs, callOptions?.onLateReply)
      breaker.success()
      return value
    } catch (e) {
      if (isServerError(e)) breaker.success()
      else {
        counters.failures++
        breaker.failure(clock.now())
      }
      throw e
    } finally {
      refresh()
    }
  }

  // The check is also the breaker's probe, so it waits out an open breaker rather than count rejections.
  const pingTimer = pingEveryMs > 0 ? setInterval(() => {
    if (cmd && (breaker.state !== 'open' || clock.now() >= breaker.reopensAt())) call(() => cmd, measureClock).catch(() => {})
    if (sub?.connected) withTimeout(sub.send('PING', []), options.timeoutMs).catch(() => {})
  }, pingEveryMs) : null
  pingTimer?.unref()

  void open()

  const redis: Redis = {
    get state() {
      return state
    },
    get healthy() {
      return state === 'up'
    },
    counters,
    redisNow: () => clock.now() + offsetMs,
    deadline: () => clock.now() + offsetMs + options.timeoutMs,
    send: (command, args, callOptions) => call(() => cmd, (c) => c.send(command, args), callOptions),
    evalScript: (script, keys, args, callOptions) =>
      call(() => cmd, async (c) => {
        const rest = [String(keys.length), ...keys, ...args]
        try {
          return await c.send('EVALSHA', [script.sha, ...rest])
        } catch (e) {
          // Redis restarted (or flushed its script cache) since the last SCRIPT LOAD.
          if (isNoScript(e)) return c.send('EVAL', [script.source, ...rest])
          throw e
        }
      }, callOptions),
    load(list) {
      for (const script of list) {
        scripts.set(script.sha, script)
        if (cmd) call(() => cmd, (c) => c.send('SCRIPT', ['LOAD', script.source])).catch(() => {})
      }
    },
    publish: (channel, message) => call(() => cmd, (c) => c.publish(channel, message)),
    async subscribe(channel, listener) {
      let set = channels.get(channel)
      if (!set) channels.set(channel, (set = new Set()))
      set.add(listener)
      // While down, the next connect subscribes it.
      if (sub?.connected) await call(() => sub, (s) => s.subscribe(channel, dispatch))
    },
    async unsubscribe(channel, listener) {
      const set = channels.get(channel)
      set?.delete(listener)
      if (!set || set.size > 0) return
      channels.delete(channel)
      if (sub?.connected) await call(() => sub, (s) => s.unsubscribe(channel))
    },
    watch(watcher) {
      watchers.add(watcher)
      return () => void watchers.delete(watcher)
    },
    whenUp(withinMs) {
      if (state === 'up') return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop()
          reject(new RedisUnavailableError(closed ? 'closed' : state === 'open' ? 'open' : 'down'))
        }, withinMs)
        const stop = redis.watch({
          state: (s) => {
            if (s !== 'up') return
            clearTimeout(timer)
            stop()
            resolve()
          },
        })
      })
    },
    close() {
      if (closed) return
      closed = true
      generation++
      if (retryTimer) clearTimeout(retryTimer)
      if (pingTimer) clearInterval(pingTimer)
      const [c, s] = [cmd, sub]
      cmd = sub = null
      c?.close()
      s?.close()
      refresh()
    },
  }
  return redis
}
