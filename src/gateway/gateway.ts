import { randomToken } from '../lib/crypto.ts'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'
import type { Operation } from '../providers/types.ts'
import type * as ir from '../protocols/ir.ts'
import { protocolForOperation, usageForOperation } from '../protocols/registry.ts'
import { embeddingBridge } from '../protocols/embeddings.ts'
import type { ReplyOptions, ReplyRequest, WireProtocol } from '../protocols/types.ts'

import type { Mode } from './upstream/attempt.ts'
import { runAttempts, type AttemptsDeps, type Success } from './upstream/attempts.ts'
import type { ModelEntry, Target } from './routing/catalog.ts'
import type { CircuitState } from './routing/circuit-breaker.ts'
import type { ConnectWatch } from './upstream/connect-watch.ts'
import { GatewayError } from './errors.ts'
import { heartbeatUntil } from './streams/heartbeat-stream.ts'
import { availableAt, type KeyState } from './routing/key-pool.ts'
import type { ResponseStore, UpstreamKeyStateStore } from './ports.ts'
import type { RequestRecord, RequestTrace } from './record.ts'
import { checkRequest, conversationKey, parseJsonObject, type JsonObject } from './request-body.ts'
import { bodyReply, passedThrough, streamReply, type ReplyContext } from './respond.ts'
import { buildPayload, translationFailure, upstreamOperation, upstreamWire } from './upstream/upstream-payload.ts'
import type { Runtime } from './runtime.ts'
import { ClientClosed } from './upstream/upstream-call.ts'
import type { ClientKey } from './access/client-keys.ts'
import { estimateTokens, type Admission, type Limits } from './access/limits/limiter.ts'
import { applyKeyEvent, type UpstreamKeyEvent } from './routing/key-events.ts'
import { costOf } from './access/limits/pricing.ts'

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
  /** Client headers an upstream of the same protocol must see (`anthropic-version`, `anthropic-beta`). */
  passHeaders: Record<string, string>
  /** The client protocol's mid-stream error event. */
  renderStreamError(error: GatewayError): Uint8Array
  /** The client protocol's keep-alive event. */
  heartbeat: Uint8Array
  /** The edge already counted this request against the key's rpm (before reading its body). */
  requestCounted?: boolean
  /** The model, when the protocol names it in the URL (Gemini) rather than the body. */
  model?: string
  /** Whether the client wants a stream, when the protocol says so in the URL. */
  stream?: boolean
  /** What the client protocol's reply needs from the route (Gemini's JSON-array stream framing). */
  routeState?: Record<string, unknown>
  /** For a counting operation: the client protocol's answer to an estimate, used when the provider cannot count. */
  estimate?(tokens: number): Record<string, unknown>
}

export interface ProviderHealth {
  name: string
  type: string
  circuit: CircuitState
  /** Models whose circuit is open or probing (a breaker per model). */
  paused_models: Array<{ model: string; state: CircuitState; reopens_at: string | null }>
  keys: { total: number; usable: number; cooling: number; disabled: number }
  models: number | null
}

export interface KeyView {
  fingerprint: string
  /** The key's end (`sk-...a1b2`), as the providers' own consoles show it. */
  hint: string
  label: string | null
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
  /** Applies what another instance learned about an upstream key; false when the key is not known here. */
  applyKeyEvent(event: UpstreamKeyEvent): boolean
}

export interface GatewayDeps {
  /** Keeps answers for clients whose provider keeps no state (Responses `store`). */
  responses?: ResponseStore
  onOutcome?: AttemptsDeps['onOutcome']
  connectWatch: ConnectWatch
  limiter: Limits
  keyStates: UpstreamKeyStateStore
  /** Told what this instance learned about an upstream key (rested, retired, re-enabled). */
  onKeyEvent?(event: UpstreamKeyEvent): void
  logger: Logger
  now: () => number
  random?: () => number
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

/** The request pipeline: validate, route, try upstreams until one answers, relay, record usage. */
export function createGateway(initial: Runtime, deps: GatewayDeps): Gateway {
  let current = initial
  const random = deps.random ?? Math.random

  async function proxy(input: ProxyInput): Promise<Response> {
    const rt = current
    const { operation, trace } = input
    let raw = input.raw
    const record = trace.record
    const client = protocolForOperation(operation)
    let body = parseJsonObject(raw)
    const checked = checkRequest(body, operation, input.model)
    const model = checked.model
    const streaming = client !== null && (input.stream ?? checked.stream)
    record.model = model
    record.stream = streaming

    // A continuation of an answer the gateway kept is made whole here; one it did not keep is the
    // upstream's (pinned to the key that made it).
    let continued = client?.continuation?.of(body) ?? null
    if (continued && deps.responses) {
      const kept = await keptResponse(deps.responses, continued, input.clientKey.id)
      if (kept) {
        body = client!.continuation!.resume(body, kept)
        raw = encoder.encode(JSON.stringify(body))
        continued = null
      }
    }
    // References to items of answers the gateway kept are replaced by the items themselves.
    const referenced = deps.responses ? client?.continuation?.referenced(body) ?? [] : []
    if (referenced.length > 0) {
      const kept = new Map<string, ir.Json>()
      for (const id of referenced) {
        const r = await keptResponse(deps.responses!, id, input.clientKey.id)
        if (r) kept.set(id, r.response)
      }
      if (kept.size > 0) {
        body = client!.continuation!.dereference(body, kept)
        raw = encoder.encode(JSON.stringify(body))
      }
    }
    const keep = keeper(client, body, input.clientKey, rt.config, deps)

    const sticky = stickyKeyOf(model, body, input.sessionId)
    const plan = await rt.router.plan(model, sticky.get, continued ? `answer:${continued}` : undefined)
    if (!plan) {
      throw new GatewayError(
        'model_not_found',
        `The model \`${model}\` does not exist or is not served by this gateway. GET /v1/models lists the available models.`,
        { param: 'model' },
      )
    }
    if (plan.alias) record.alias = plan.alias.name
    const key = input.clientKey
    if (!key.allowsModel(model)) {
      // A key limited to some providers may still use an alias through the targets it may use.
      plan.targets = plan.targets.filter((t) => key.allowsModel(t.label))
      if (plan.targets.length === 0) {
        throw new GatewayError('model_not_allowed', `This key may not use the model \`${model}\`.`, { param: 'model' })
      }
    }
    if (input.estimate && !plan.targets[0]!.provider.adapter.operations.includes(operation)) {
      // A provider that cannot count tokens (OpenAI-compatible APIs): answer with the gateway's estimate.
      return Response.json(input.estimate(estimateTokens(raw.byteLength)))
    }
    const servable = plan.targets.filter((t) => upstreamOperation(operation, client, t) !== null)
    if (servable.length === 0) {
      throw new GatewayError('unsupported', `The provider of \`${model}\` does not offer ${operation}.`, { param: 'model' })
    }
    plan.targets = servable

    const promptTokens = estimateTokens(raw.byteLength)
    // A budget reserves what the request may cost, as tokens are reserved, so parallel requests
    // cannot spend past it; computed only where a budget applies.
    const estimatedCostUsd = key.policy.quota?.budgetUsd != null ? costCeiling(rt.config.prices, model, plan.targets, body, operation, promptTokens) : 0
    const admitted = deps.limiter.admit(key, promptTokens, { requestCounted: input.requestCounted, estimatedCostUsd })
    // In-memory limits answer at once; only shared ones are awaited.
    const admission = admitted instanceof Promise ? await admitted : admitted
    Object.assign(trace.headers, admission.headers)
    trace.onDone(settleWhenDone(rt.config.prices, model, admission))

    const fakeStream = (t: Target) => plan.alias?.fake_stream === true || t.provider.config.fake_stream
    const wireOf = (t: Target) => (client ? upstreamWire(client, t) : null)
    const modeFor = (t: Target): Mode =>
      !client ? 'json'
      : streaming ? (fakeStream(t) ? 'fake_stream' : 'stream')
      : t.provider.config.stream_only && wireOf(t)?.collect ? 'aggregate' : 'json'
    // Decoded only when some target speaks another protocol, once for all of them.
    let decoded: ir.Request | null = null
    let replyRequest: ReplyRequest | null = null
    const decode = () => {
      if (!decoded) {
        try {
          decoded = client!.request.decode(request!.body)
        } catch (err) {
          throw translationFailure(err)
        }
        replyRequest = { tools: decoded.tools, includeEncryptedReasoning: decoded.includeEncryptedReasoning }
      }
      return decoded
    }
    // The request body is needed only until an upstream has answered. A long stream must not keep
    // it (and its parsed copy) alive, so it is held here and dropped once the attempts are over.
    let request: { raw: Uint8Array; body: JsonObject; payloads: Map<string, Uint8Array | string> } | null = { raw, body, payloads: new Map() }
    const payloadFor = (t: Target, mode: Mode) => {
      const { raw, body, payloads } = request!
      const id = `${t.provider.name}\u0000${t.upstreamModel}\u0000${mode}`
      let payload = payloads.get(id)
      if (payload === undefined) {
        payload = buildPayload({
          operation,
          offered: t.provider.adapter.operations,
          client,
          upstream: wireOf(t),
          raw,
          body,
          decoded: decode,
          upstreamModel: t.upstreamModel,
          provider: t.provider.name,
          mode,
          defaultMaxTokens: t.provider.config.default_max_tokens,
          onDropped: (fields) => deps.logger.debug({ req_id: record.requestId, provider: t.provider.name, dropped: fields }, 'fields without an equivalent were dropped'),
        })
        payloads.set(id, payload)
      }
      return payload
    }

    const run = runAttempts(
      {
        operationFor: (t) => upstreamOperation(operation, client, t)!,
        collectFor: (t) => wireOf(t)?.collect,
        plan,
        modeFor,
        payloadFor,
        passHeaders: input.passHeaders,
        signal: input.signal,
        startedAt: record.startedAt,
        onAttempt(target, n, upstreamKey) {
          record.provider = target.provider.name
          record.upstreamModel = target.upstreamModel
          record.upstreamKey = upstreamKey.fingerprint
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
        onOutcome: deps.onOutcome,
        onKeyEvent: deps.onKeyEvent,
      },
    )

    // Neither the body nor its payloads are needed once an upstream answered or all failed.
    const release = () => {
      request = null
      decoded = null
    }
    run.then(release, release)

    const replyState = client ? { ...client.replyState(body), ...input.routeState } : {}
    // The gateway's own id for answers it makes (Responses ids): unique even when a client reuses its request id.
    const responseId = newResponseId()
    const ctx: ReplyContext = {
      client,
      upstreamOf: (s) => wireOf(s.target),
      plainUsage: client ? null : usageForOperation(operation),
      bridge: (s) => (client ? null : embeddingBridge(operation, s.target.provider.adapter.operations)),
      reply: (s): ReplyOptions => ({
        model, provider: s.target.provider.name, request: replyRequest, state: replyState, responseId,
        // Only what the gateway answered itself is kept: a provider serving the protocol keeps its own.
        ...(keep && !passedThrough(s, ctx) ? { onAnswer: keep } : {}),
      }),
      trace,
      wantsBase64: operation === 'embeddings' && body.encoding_format === 'base64',
      heartbeatMs: rt.config.routing.heartbeat_ms,
      heartbeat: input.heartbeat,
      renderError: input.renderStreamError,
    }
    const succeeded = (s: Success) => {
      // The key is held (where its provider caps requests per key) until the answer is over.
      trace.onDone(s.release)
      record.ttfbMs = deps.now() - record.startedAt
      const stickyKey = sticky.value()
      if (plan.sticky && stickyKey) rt.router.pin(stickyKey, s.target.label, s.key.fingerprint)
      // An answer the upstream stores is continued later on the key that made it.
      if (client?.continuation && passedThrough(s, ctx)) {
        const id = client.continuation.answerId(s.kind === 'stream' ? s.first : s.bytes)
        if (id) rt.router.pin(`answer:${id}`, s.target.label, s.key.fingerprint)
      }
    }

    if (!streaming) {
      const success = await run
      succeeded(success)
      const status = success.kind === 'body' ? success.status : 200
      const contentType = success.kind === 'body' && passedThrough(success, ctx) ? success.contentType : 'application/json'
      return new Response(bodyReply(success, ctx), {
        status,
        headers: diagnostics(Object.assign({ 'content-type': contentType }, trace.headers), success, record.startedAt),
      })
    }

    // A stream waits for its upstream up to one heartbeat interval with nothing sent, so that an
    // error can still get its real status; after that the client is kept alive with heartbeats.
    const early = await settleWithin(run, rt.config.routing.heartbeat_ms)
    if (early.settled === 'rejected') throw early.error
    trace.deferred = true
    if (early.settled === 'resolved') {
      const success = early.value
      succeeded(success)
      return new Response(streamReply(success, ctx), {
        status: 200,
        headers: diagnostics(Object.assign({}, SSE_HEADERS, trace.headers), success, record.startedAt),
      })
    }
    const answer = run.then((success) => {
      succeeded(success)
      return streamReply(success, ctx)
    })
    return new Response(
      heartbeatUntil(answer, rt.config.routing.heartbeat_ms, input.heartbeat, input.renderStreamError, completeOnFailure(trace)),
      { status: 200, headers: { ...SSE_HEADERS, ...trace.headers } },
    )
  }

  /** Adds where the answer came from to a response's headers. */
  function diagnostics(headers: Record<string, string>, s: Success, startedAt: number): Record<string, string> {
    headers['x-sluice-provider'] = s.target.provider.name
    headers['x-sluice-model'] = s.target.label
    headers['x-sluice-attempts'] = String(s.attempts)
    // The gateway's own time: everything except waiting on upstreams and backing off.
    headers['x-sluice-overhead-ms'] = String(Math.max(0, deps.now() - startedAt - s.waitedMs))
    return headers
  }

  function health(p: Runtime['catalog']['providers'][number]): ProviderHealth {
    return {
      name: p.name,
      type: p.config.type,
      circuit: p.breakers.state,
      paused_models: p.breakers.notClosed(),
      keys: p.pool.counts(deps.now()),
      models: p.models ? p.models.length : null,
    }
  }

  return {
    proxy,
    // Pattern aliases are not models a picker can show; their targets are listed as they are.
    models: () => [...current.catalog.list(), ...current.config.aliases.filter((a) => !a.pattern).map((a) => ({ id: a.name, provider: 'sluice-alias' }))],
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
      deps.onKeyEvent?.({ kind: 'enabled', provider, fingerprint })
      return true
    },
    applyKeyEvent: (event) => applyKeyEvent(current.catalog, event, deps.now()),
    runtime: () => current,
    swap(next) {
      current.catalog.stop()
      current = next
      next.catalog.start()
    },
  }
}

const encoder = new TextEncoder()

const newResponseId = () => `resp_${randomToken(28)}`

/** A kept response; a database that cannot answer now is the client's 503, not a 500. */
async function keptResponse(store: ResponseStore, id: string, keyId: string) {
  try {
    return await store.get(id, keyId)
  } catch (err) {
    throw new GatewayError('storage_unavailable', `Stored responses cannot be read now (${(err as Error).message.slice(0, 200)}); try again.`)
  }
}

/**
 * What keeps an answer, when the client protocol keeps state and the client asked for it: the
 * conversation so far and the answer, for the client key alone, within the size and time bounds.
 * Made outside the handler, so that only the conversation is held until the answer is complete.
 */
function keeper(client: WireProtocol | null, body: JsonObject, key: ClientKey, config: Config, deps: GatewayDeps): ((answer: ir.Json) => void) | null {
  const c = client?.continuation
  const store = deps.responses
  if (!c || !store || !c.stores(body)) return null
  const input = c.history(body)
  const { store_ttl_hours: ttlHours, max_stored_bytes: maxBytes } = config.responses
  return (answer) => {
    const id = typeof answer.id === 'string' ? answer.id : null
    if (!id) return
    const serialized = { input: JSON.stringify(input), response: JSON.stringify(answer) }
    const bytes = serialized.input.length + serialized.response.length
    if (bytes > maxBytes) {
      deps.logger.info({ id, bytes, max: maxBytes }, 'response not kept: larger than responses.max_stored_bytes')
      return
    }
    const now = deps.now()
    store.save({ id, clientKeyId: key.id, createdAt: now, expiresAt: now + ttlHours * 3_600_000, input, response: answer, serialized })
  }
}

// The callbacks below outlive the request's handler (they run when a stream ends), so they are
// made outside it: a closure made inside would keep the handler's whole scope, request body
// included, alive for as long as the stream runs.

/** Settles the client key's limits with what the request used, once it is over. */
function settleWhenDone(prices: Config['prices'], model: string, admission: Admission): (r: RequestRecord) => void {
  return (r) => {
    r.costUsd = costOf(prices, [r.provider && r.upstreamModel ? `${r.provider}/${r.upstreamModel}` : '', r.upstreamModel ?? '', model], r.usage)
    admission.settle({ usage: r.usage, costUsd: r.costUsd, failedBeforeUpstream: r.attempts === undefined })
  }
}

/** The output tokens a request may produce: what it asks for, else what its upstream would be told. */
function outputCap(body: JsonObject, operation: Operation, target: Target): number {
  if (operation === 'embeddings') return 0
  for (const field of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) {
    const v = body[field]
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v
  }
  return target.provider.config.default_max_tokens
}

/** The most a request may cost: its prompt estimate and output cap at the dearest of its targets. */
function costCeiling(prices: Config['prices'], model: string, targets: readonly Target[], body: JsonObject, operation: Operation, promptTokens: number): number {
  let most = 0
  for (const t of targets) {
    const usage = { promptTokens, completionTokens: outputCap(body, operation, t), cachedTokens: 0, reasoningTokens: 0 }
    most = Math.max(most, costOf(prices, [`${t.provider.name}/${t.upstreamModel}`, t.upstreamModel, model], usage))
  }
  return most
}

/** Completes the trace of a stream whose upstream failed behind heartbeats. */
function completeOnFailure(trace: RequestTrace): (err: unknown) => void {
  return (err) => {
    if (err instanceof ClientClosed) return trace.complete({ status: 499, outcome: 'client_closed' })
    const error = err instanceof GatewayError ? err : new GatewayError('upstream_error', String(err))
    trace.complete({ status: error.status, outcome: 'error', errorCode: error.code, errorMessage: error.message })
  }
}

/** The conversation's stickiness key: computed only if the route asks for it, at most once. */
function stickyKeyOf(model: string, body: JsonObject, sessionId: string | null): { get(): string; value(): string | null } {
  let key: string | null = null
  return {
    get: () => (key ??= `${model}\u0000${conversationKey(body, sessionId)}`),
    value: () => key,
  }
}

function keyView(s: KeyState, now: number): KeyView {
  const at = availableAt(s, now)
  const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString())
  const limit = (w: KeyState['requests']) => (w ? { limit: w.limit, remaining: w.remaining, reset_at: iso(w.resetAt) } : null)
  return {
    fingerprint: s.fingerprint,
    hint: s.hint,
    label: s.label,
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

