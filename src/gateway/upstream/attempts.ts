import type { Config } from '../../config/schema.ts'
import type { Logger } from '../../observability/logger.ts'
import type { Operation } from '../../providers/types.ts'
import { attempt, type AttemptResult, type Mode } from './attempt.ts'
import { backoffDelay, sleep } from './backoff.ts'
import type { Target } from '../routing/catalog.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { GatewayError } from '../errors.ts'
import type { KeyState } from '../routing/key-pool.ts'
import type { UpstreamKeyEvent } from '../routing/key-events.ts'
import type { UpstreamKeyStateStore } from '../ports.ts'
import type { RoutePlan } from '../routing/router.ts'
import { ClientClosed } from './upstream-call.ts'
import type { UsageBound } from '../usage.ts'

export type Success = Extract<AttemptResult, { ok: true }> & {
  target: Target
  key: KeyState
  mode: Mode
  attempts: number
  /** Time spent waiting on upstreams and in backoff, excluded from the gateway's overhead. */
  waitedMs: number
  /** What the answer may be at most (the config in force when the attempt ran). */
  limits: Config['upstream']
  /** Gives the key back to its pool (providers that cap requests per key); call once the answer is over. */
  release: () => void
  /** Bounds the usage this upstream reports; absurd values are logged once per request. */
  usageBound: UsageBound
}

export interface AttemptsDeps {
  config: Config
  connectWatch: ConnectWatch
  keyStates: UpstreamKeyStateStore
  logger: Logger
  now: () => number
  random: () => number
  onLatency(label: string, ms: number): void
  /** Told how each upstream attempt ended, for metrics. */
  onOutcome?(provider: string, outcome: 'ok' | 'rate_limited' | 'key_dead' | 'error' | 'rejected'): void
  /** Told what was learned about a key (rested, retired), for other instances sharing the keys. */
  onKeyEvent?(event: UpstreamKeyEvent): void
}

export interface AttemptsInput {
  /** What each target's upstream is asked to do. */
  operationFor(target: Target): Operation
  plan: RoutePlan
  passHeaders: Record<string, string>
  modeFor(target: Target): Mode
  payloadFor(target: Target, mode: Mode): Uint8Array | string
  /** For the `aggregate` mode: how a target's whole event stream becomes one answer. */
  collectFor?(target: Target): ((bytes: Uint8Array) => Record<string, unknown>) | undefined
  signal: AbortSignal
  startedAt: number
  /** Told before each attempt, so a failure can still be logged with where it went. */
  onAttempt?(target: Target, attempt: number, key: KeyState): void
}

/**
 * Tries the plan's targets until one answers. A rate-limited or dead key is swapped for another at
 * once; a failing provider is retried with backoff, moving to the next target, within
 * `retry.max_attempts` and one overall deadline. Throws the error the client should see.
 */
export async function runAttempts(input: AttemptsInput, deps: AttemptsDeps): Promise<Success> {
  const { config, now } = deps
  const { targets, pin } = input.plan
  const deadline = input.startedAt + config.timeouts.total_ms
  const hardCap = config.retry.max_attempts + targets.reduce((n, t) => n + t.provider.pool.states.length, 0)
  const failedProviders = new Set<string>()
  let index = 0
  let attempts = 0
  let retries = 0
  let waitedMs = 0
  let lastError: GatewayError | null = null

  for (;;) {
    if (input.signal.aborted) throw new ClientClosed()
    let cooling = Infinity
    let circuitOpenUntil = Infinity
    const disabled: Target[] = []
    let chosen: { target: Target; key: KeyState; at: number } | null = null
    for (let i = 0; i < targets.length && !chosen; i++) {
      const at = (index + i) % targets.length
      const target = targets[at]!
      const { pool } = target.provider
      const breaker = target.provider.breakers.get(target.upstreamModel)
      const pick = pool.pick(now(), pin && pin.label === target.label ? pin.fingerprint : undefined, target.upstreamModel)
      if (pick.kind === 'cooling') cooling = Math.min(cooling, pick.until)
      else if (pick.kind === 'disabled') disabled.push(target)
      else if (!breaker.allow(now())) circuitOpenUntil = Math.min(circuitOpenUntil, breaker.reopensAt())
      else chosen = { target, key: pick.state, at }
    }
    if (!chosen) throw noCapacity(now(), cooling, circuitOpenUntil, disabled, lastError)
    if (attempts >= hardCap) throw finalError(lastError!)

    attempts++
    const { target, key } = chosen
    input.onAttempt?.(target, attempts, key)
    const mode = input.modeFor(target)
    const began = now()
    let result: Awaited<ReturnType<typeof attempt>>
    try {
      result = await attempt({
      operation: input.operationFor(target),
      passHeaders: input.passHeaders,
      target,
      key,
      mode,
      payload: input.payloadFor(target, mode),
      signal: input.signal,
      connectWatch: deps.connectWatch,
      limits: config.upstream,
      logger: deps.logger,
      collect: input.collectFor?.(target),
      })
    } catch (err) {
      target.provider.pool.release(key)
      throw err
    }
    waitedMs += now() - began
    const { pool } = target.provider
    // A failed attempt gives its key back at once; an answer holds it until the request is over (see Success.release).
    if (!result.ok) pool.release(key)
    const breaker = target.provider.breakers.get(target.upstreamModel)

    deps.onOutcome?.(
      target.provider.name,
      result.ok ? 'ok' : result.verdict.action === 'backoff' ? 'error' : result.verdict.action === 'final' ? 'rejected' : result.verdict.action,
    )
    if (result.ok) {
      breaker.success()
      pool.succeeded(key, result.headers, now())
      deps.onLatency(target.label, now() - began)
      const usageBound = boundFor(target.provider.name, config.upstream.max_reported_tokens, deps.logger)
      return { ...result, target, key, mode, attempts, waitedMs, limits: config.upstream, usageBound, release: releaser(pool, key) }
    }

    const { verdict } = result
    lastError = verdict.error
    const headers = result.headers ?? new Headers()
    switch (verdict.action) {
      case 'final':
        breaker.success()
        throw verdict.error
      case 'rate_limited':
        breaker.success()
        // An adapter may say the limit is one model's: the key rests for that model only.
        pool.rateLimited(key, headers, now(), verdict.error.message, verdict.error.details.retryAfterMs, headers?.get('x-sluice-scope') === 'model' ? target.upstreamModel : undefined)
        deps.onKeyEvent?.({ kind: 'cooled', provider: target.provider.name, fingerprint: key.fingerprint, forMs: key.cooldownUntil - now() })
        index = chosen.at
        continue
      case 'key_dead':
        breaker.success()
        pool.disable(key, verdict.reason, now())
        deps.logger.warn({ provider: target.provider.name, key: key.fingerprint, hint: key.hint, ...(key.label ? { label: key.label } : {}), reason: verdict.reason }, 'upstream key disabled')
        deps.keyStates
          .setDisabled({ provider: target.provider.name, fingerprint: key.fingerprint, reason: verdict.reason, disabledAt: now() })
          .catch((err) => deps.logger.warn({ err: (err as Error).message }, 'could not save a disabled key yet; it is saved with the next flush'))
        deps.onKeyEvent?.({ kind: 'disabled', provider: target.provider.name, fingerprint: key.fingerprint, reason: verdict.reason })
        index = chosen.at
        continue
      case 'backoff': {
        breaker.failure(now())
        pool.failed(key, verdict.error.message, now())
        retries++
        if (retries >= config.retry.max_attempts || now() >= deadline) throw finalError(verdict.error)
        index = (chosen.at + 1) % targets.length
        // Moving to a provider that has not failed yet needs no pause.
        const next = targets[index]!
        if (failedProviders.has(next.provider.name) || next.provider === target.provider) {
          const delay = Math.min(backoffDelay(retries, config.retry.initial_delay_ms, config.retry.max_delay_ms, deps.random), deadline - now())
          const slept = now()
          await sleep(delay, input.signal)
          waitedMs += now() - slept
        }
        failedProviders.add(target.provider.name)
      }
    }
  }
}

/**
 * Gives a key back to its pool. Made outside the attempt loop on purpose: a closure made there
 * would keep the loop's whole scope (the request body among it) alive until the answer is over.
 */
function releaser(pool: Target['provider']['pool'], key: KeyState): () => void {
  return () => pool.release(key)
}

/** A usage bound that logs the first absurd value it sees and stays quiet after. */
function boundFor(provider: string, max: number, logger: Logger): UsageBound {
  let logged = false
  return {
    max,
    absurd(field, value) {
      if (logged) return
      logged = true
      logger.warn({ provider, field, reported: String(value).slice(0, 100), max }, 'upstream reported an absurd token count; clamped')
    },
  }
}

/** The gateway has already retried: tell the client SDK not to multiply the attempts. */
function finalError(error: GatewayError): GatewayError {
  return new GatewayError(error.code, error.message, { ...error.details, shouldRetry: false })
}

function noCapacity(now: number, cooling: number, circuitOpenUntil: number, disabled: Target[], last: GatewayError | null): GatewayError {
  const soonest = Math.min(cooling, circuitOpenUntil)
  if (cooling !== Infinity) {
    const waitMs = Math.max(0, soonest - now)
    return new GatewayError(
      'all_keys_cooling',
      `Every upstream key that can serve this model is rate limited; the first frees up in ${Math.ceil(waitMs / 1000)} s.`,
      { retryAfterMs: waitMs, shouldRetry: waitMs <= 60_000 },
    )
  }
  if (circuitOpenUntil !== Infinity) {
    const waitMs = Math.max(0, circuitOpenUntil - now)
    const cause = last ? ` Last error: ${last.message}` : ''
    return new GatewayError('upstream_unavailable', `The providers for this model are failing and paused for ${Math.ceil(waitMs / 1000)} s.${cause}`, {
      retryAfterMs: waitMs,
      shouldRetry: false,
    })
  }
  const names = [...new Set(disabled.map((t) => t.provider.name))].join(', ')
  // What the provider said when it retired a key (insufficient_quota, an invalid key), so the
  // client learns the cause and not only that nothing is left.
  const said = last?.message ?? disabled.flatMap((t) => t.provider.pool.states.map((s) => s.disabled?.reason ?? '')).find(Boolean)
  return new GatewayError(
    'no_usable_upstream',
    `Every upstream key of ${names} is disabled (rejected by the provider); an admin must re-enable or replace them.${said ? ` The provider said: ${said}` : ''}`,
    { shouldRetry: false },
  )
}
