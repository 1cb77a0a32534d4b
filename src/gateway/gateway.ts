import type { Logger } from '../observability/logger.ts'
import type { Operation } from '../providers/types.ts'
import { findObjectValue } from '../lib/json-scan.ts'
import type { Mode } from './attempt.ts'
import { runAttempts, type Success } from './attempts.ts'
import type { ModelEntry, Target } from './catalog.ts'
import type { CircuitState } from './circuit-breaker.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { base64Embeddings } from './embeddings-format.ts'
import { GatewayError } from './errors.ts'
import { heartbeatUntil } from './heartbeat-stream.ts'
import { availableAt, type KeyState } from './key-pool.ts'
import { completionToSse } from './openai-chunks.ts'
import type { UpstreamKeyStateStore } from './ports.ts'
import type { RequestTrace } from './record.ts'
import {
  checkRequest,
  clientWantsUsage,
  conversationKey,
  parseJsonObject,
  upstreamBody,
  type JsonObject,
  type UpstreamShape,
} from './request-body.ts'
import type { Runtime } from './runtime.ts'
import { relayStream } from './stream-relay.ts'
import { ClientClosed } from './upstream-call.ts'
import { usageFromOpenAI } from './usage.ts'
import type { ClientKey } from './client-keys.ts'
import { estimateTokens, type Limiter } from './limits/limiter.ts'
import { costOf } from './limits/pricing.ts'

export interface ProxyInput {
  operation: Operation
  clientKey: ClientKey
  /** The request body exactly as the client sent it. */
  raw: Uint8Array
  trace: RequestTrace
  /** Aborts when the client disconnects. */
  signal: AbortSignal
  /** `x-session-id`, for stickiness. */
  sessionId: string | null
  /** The client protocol's mid-stream error event. */
  renderStreamError(error: GatewayError): Uint8Array
}

export interface ProviderHealth {
  name: string
  type: string
  circuit: CircuitState
  keys: { total: number; usable: number; cooling: number; disabled: number }
  models: number | null
}

export interface KeyView {
  fingerprint: string
  state: 'usable' | 'cooling' | 'disabled'
  cooling_until: string | null
  disabled: { reason: string; at: string } | null
  last_used_at: string | null
  requests: { limit: number | null; remaining: number | null; reset_at: string | null } | null
  tokens: { limit: number | null; remaining: number | null; reset_at: string | null } | null
  ok: number
  errors: number
  last_error: { message: string; at: string } | null
}

export interface Gateway {
  proxy(input: ProxyInput): Promise<Response>
  models(): ModelEntry[]
  providers(): ProviderHealth[]
  providerKeys(): Array<ProviderHealth & { keys_detail: KeyView[] }>
  /** Re-enables a disabled upstream key; false when there is no such key. */
  enableKey(provider: string, fingerprint: string): Promise<boolean>
  runtime(): Runtime
  /** Puts a new runtime in force; requests already running finish on the old one. */
  swap(next: Runtime): void
}

export interface GatewayDeps {
  connectWatch: ConnectWatch
  limiter: Limiter
  keyStates: UpstreamKeyStateStore
  logger: Logger
  now: () => number
  random?: () => number
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

const SHAPES: Record<Mode, UpstreamShape> = {
  json: 'as_sent',
  stream: 'stream_with_usage',
  fake_stream: 'no_stream',
  aggregate: 'stream_with_usage',
}

/** The request pipeline: validate, route, try upstreams until one answers, relay, record usage. */
export function createGateway(initial: Runtime, deps: GatewayDeps): Gateway {
  let current = initial
  const random = deps.random ?? Math.random

  async function proxy(input: ProxyInput): Promise<Response> {
    const rt = current
    const { operation, raw, trace } = input
    const record = trace.record
    const body = parseJsonObject(raw)
    const { model, stream } = checkRequest(body, operation)
    const streaming = operation === 'chat' && stream
    record.model = model
    record.stream = streaming

    let stickyKey: string | null = null
    const plan = await rt.router.plan(model, () => (stickyKey = `${model}\u0000${conversationKey(body, input.sessionId)}`))
    if (!plan) {
      throw new GatewayError(
        'model_not_found',
        `The model \`${model}\` does not exist or is not served by this gateway. GET /v1/models lists the available models.`,
        { param: 'model' },
      )
    }
    const key = input.clientKey
    if (!key.allowsModel(model)) {
      // A key limited to some providers may still use an alias through the targets it may use.
      plan.targets = plan.targets.filter((t) => key.allowsModel(t.label))
      if (plan.targets.length === 0) {
        throw new GatewayError('model_not_allowed', `This key may not use the model \`${model}\`.`, { param: 'model' })
      }
    }
    const admission = deps.limiter.admit(key, estimateTokens(raw.byteLength))
    Object.assign(trace.headers, admission.headers)
    trace.onDone((r) => {
      r.costUsd = costOf(rt.config.prices, [r.provider && r.upstreamModel ? `${r.provider}/${r.upstreamModel}` : '', r.upstreamModel ?? '', model], r.usage)
      admission.settle({ usage: r.usage, costUsd: r.costUsd, failedBeforeUpstream: r.attempts === undefined })
    })
    if (plan.alias) record.alias = plan.alias.name
    const wantsUsage = clientWantsUsage(body)
    const fakeStream = (t: Target) => plan.alias?.fake_stream === true || t.provider.config.fake_stream
    const modeFor = (t: Target): Mode =>
      operation !== 'chat' ? 'json'
      : streaming ? (fakeStream(t) ? 'fake_stream' : 'stream')
      : t.provider.config.stream_only ? 'aggregate' : 'json'
    const payloads = new Map<string, Uint8Array | string>()
    const payloadFor = (t: Target, mode: Mode) => {
      const id = `${t.upstreamModel}\u0000${mode}`
      let payload = payloads.get(id)
      if (payload === undefined) payloads.set(id, (payload = upstreamBody(raw, body, t.upstreamModel, SHAPES[mode])))
      return payload
    }

    const run = runAttempts(
      {
        operation,
        plan,
        modeFor,
        payloadFor,
        signal: input.signal,
        startedAt: record.startedAt,
        onAttempt(target, n) {
          record.provider = target.provider.name
          record.upstreamModel = target.upstreamModel
          record.attempts = n
        },
      },
      {
        config: rt.config,
        connectWatch: deps.connectWatch,
        keyStates: deps.keyStates,
        logger: deps.logger,
        now: deps.now,
        random,
        onLatency: (label, ms) => rt.router.recordLatency(label, ms),
      },
    )

    const succeeded = (s: Success) => {
      record.ttfbMs = deps.now() - record.startedAt
      if (plan.sticky && stickyKey) rt.router.pin(stickyKey, s.target.label, s.key.fingerprint)
    }

    if (!streaming) {
      const success = await run
      succeeded(success)
      return bodyResponse(success, body, operation, trace)
    }

    // A stream waits for its upstream up to one heartbeat interval with nothing sent, so that an
    // error can still get its real status; after that the client is kept alive with comments.
    const early = await settleWithin(run, rt.config.routing.heartbeat_ms)
    if (early.settled === 'rejected') throw early.error
    if (early.settled === 'resolved') {
      const success = early.value
      succeeded(success)
      trace.deferred = true
      return new Response(streamOf(success), {
        status: 200,
        headers: { ...SSE_HEADERS, ...trace.headers, ...diagnostics(success, record.startedAt) },
      })
    }
    trace.deferred = true
    const answer = run.then((success) => {
      succeeded(success)
      return streamOf(success)
    })
    return new Response(
      heartbeatUntil(answer, rt.config.routing.heartbeat_ms, input.renderStreamError, (err) => {
        if (err instanceof ClientClosed) return trace.complete({ status: 499, outcome: 'client_closed' })
        const error = err instanceof GatewayError ? err : new GatewayError('upstream_error', String(err))
        trace.complete({ status: error.status, outcome: 'error', errorCode: error.code, errorMessage: error.message })
      }),
      { status: 200, headers: { ...SSE_HEADERS, ...trace.headers } },
    )

    function streamOf(success: Success): ReadableStream<Uint8Array> {
      if (success.kind === 'stream') {
        return relayStream(success.reader, success.first, {
          call: success.call,
          stripUsageChunk: !wantsUsage,
          heartbeatMs: rt.config.routing.heartbeat_ms,
          renderError: input.renderStreamError,
          onUsage: (usage) => (record.usage = usage),
          onEnd: (outcome, delivered, error) =>
            trace.complete({
              status: 200,
              outcome,
              delivered,
              ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
            }),
        })
      }
      // The upstream answered in one piece (fake_stream, or it ignored `stream`): replay it as chunks.
      record.usage = usageFromOpenAI(findObjectValue(success.bytes, 'usage'))
      let sse: Uint8Array
      try {
        sse = completionToSse(JSON.parse(new TextDecoder().decode(success.bytes)), wantsUsage)
      } catch {
        const error = new GatewayError('upstream_error', `Provider ${success.target.provider.name} sent a response that is not JSON.`)
        trace.complete({ status: 200, outcome: 'error', errorCode: error.code, errorMessage: error.message })
        return singleChunk(input.renderStreamError(error))
      }
      trace.complete({ status: 200, outcome: 'ok' })
      return singleChunk(sse)
    }
  }

  function diagnostics(s: Success, startedAt: number): Record<string, string> {
    return {
      'x-sluice-provider': s.target.provider.name,
      'x-sluice-model': s.target.label,
      'x-sluice-attempts': String(s.attempts),
      // The gateway's own time: everything except waiting on upstreams and backing off.
      'x-sluice-overhead-ms': String(Math.max(0, deps.now() - startedAt - s.waitedMs)),
    }
  }

  function bodyResponse(s: Success, body: JsonObject, operation: Operation, trace: RequestTrace): Response {
    if (s.kind !== 'body') throw new Error('unreachable: a stream for a non-stream request')
    const record = trace.record
    record.usage = usageFromOpenAI(findObjectValue(s.bytes, 'usage'))
    const headers = { 'content-type': s.contentType, ...trace.headers, ...diagnostics(s, record.startedAt) }
    if (operation === 'embeddings' && body.encoding_format === 'base64') {
      const fixed = reencodeEmbeddings(s.bytes)
      if (fixed) return new Response(fixed, { status: s.status, headers })
    }
    return new Response(s.bytes, { status: s.status, headers })
  }

  function health(p: Runtime['catalog']['providers'][number]): ProviderHealth {
    return {
      name: p.name,
      type: p.config.type,
      circuit: p.breaker.state,
      keys: p.pool.counts(deps.now()),
      models: p.models ? p.models.length : null,
    }
  }

  return {
    proxy,
    models: () => [...current.catalog.list(), ...current.config.aliases.map((a) => ({ id: a.name, provider: 'sluice-alias' }))],
    providers: () => current.catalog.providers.map(health),
    providerKeys: () =>
      current.catalog.providers.map((p) => ({ ...health(p), keys_detail: p.pool.states.map((s) => keyView(s, deps.now())) })),
    async enableKey(provider, fingerprint) {
      const p = current.catalog.providers.find((x) => x.name === provider)
      const state = p?.pool.find(fingerprint)
      if (!p || !state) return false
      p.pool.enable(state)
      await deps.keyStates.clearDisabled(provider, fingerprint)
      deps.logger.info({ provider, key: fingerprint }, 'upstream key re-enabled')
      return true
    },
    runtime: () => current,
    swap(next) {
      current.catalog.stop()
      current = next
      next.catalog.start()
    },
  }
}

function keyView(s: KeyState, now: number): KeyView {
  const at = availableAt(s, now)
  const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString())
  const limit = (w: KeyState['requests']) => (w ? { limit: w.limit, remaining: w.remaining, reset_at: iso(w.resetAt) } : null)
  return {
    fingerprint: s.fingerprint,
    state: at === 0 ? 'usable' : at === Infinity ? 'disabled' : 'cooling',
    cooling_until: at !== 0 && at !== Infinity ? iso(at) : null,
    disabled: s.disabled ? { reason: s.disabled.reason, at: iso(s.disabled.at)! } : null,
    last_used_at: iso(s.lastUsedAt),
    requests: limit(s.requests),
    tokens: limit(s.tokens),
    ok: s.okCount,
    errors: s.errorCount,
    last_error: s.lastError ? { message: s.lastError.message, at: iso(s.lastError.at)! } : null,
  }
}

type Settled<T> = { settled: 'resolved'; value: T } | { settled: 'rejected'; error: unknown } | { settled: false }

/** Waits for a promise at most `ms`; never rejects. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<Settled<T>>((resolve) => (timer = setTimeout(() => resolve({ settled: false }), ms)))
  const outcome = promise.then(
    (value): Settled<T> => ({ settled: 'resolved', value }),
    (error): Settled<T> => ({ settled: 'rejected', error }),
  )
  const result = await Promise.race([outcome, timeout])
  clearTimeout(timer)
  // Keep a late rejection from being reported as unhandled; the heartbeat stream handles it.
  if (!result.settled) promise.catch(() => {})
  return result
}

function singleChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}

function reencodeEmbeddings(bytes: Uint8Array): string | null {
  try {
    const fixed = base64Embeddings(JSON.parse(new TextDecoder().decode(bytes)) as JsonObject)
    return fixed ? JSON.stringify(fixed) : null
  } catch {
    return null
  }
}
