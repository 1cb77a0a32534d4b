import { fingerprint } from '../../lib/crypto.ts'
import { readRetryAfter, type LimitWindow, type UpstreamLimits } from '../../providers/limit-headers.ts'

/** The live state of one upstream key. */
export interface KeyState {
  readonly key: string
  readonly fingerprint: string
  /** What a person can recognise the key by: its end, as the providers' consoles show it (`sk-...a1b2`). */
  readonly hint: string
  /** The config's name for it; follows the config on reload. */
  label: string | null
  lastUsedAt: number
  /** Order of last use within the pool; exact where timestamps tie. */
  lastUsedSeq: number
  /** Epoch ms until which the key rests after a 429. */
  cooldownUntil: number
  /** Rests that hold for one model only (an upstream's per-model quota), by model. */
  modelCooldowns: Map<string, number> | null
  /** Requests on this key now (counted where the provider caps them per key). */
  inflight: number
  /** Consecutive 429s without a hint, for the exponential default cooldown. */
  strikes: number
  disabled: { reason: string; at: number } | null
  requests: LimitWindow | null
  tokens: LimitWindow | null
  okCount: number
  errorCount: number
  lastError: { message: string; at: number } | null
}

export type KeyPick =
  | { kind: 'key'; state: KeyState }
  | { kind: 'cooling'; until: number }
  | { kind: 'disabled' }

const BASE_COOLDOWN_MS = 1000
const MAX_COOLDOWN_MS = 60_000

/** When a key can be used again (for `model`, when given); 0 when it can now, Infinity when it is disabled. */
export function availableAt(s: KeyState, now: number, model?: string): number {
  if (s.disabled) return Infinity
  let at = s.cooldownUntil > now ? s.cooldownUntil : 0
  const forModel = model !== undefined ? s.modelCooldowns?.get(model) : undefined
  if (forModel !== undefined && forModel > now) at = Math.max(at, forModel)
  for (const w of [s.requests, s.tokens]) {
    // A window the upstream said is empty stays closed until its reset.
    if (w && w.remaining !== null && w.remaining <= 0 && w.resetAt !== null && w.resetAt > now) at = Math.max(at, w.resetAt)
  }
  return at
}

/**
 * Chooses a key: the preferred one (stickiness) when it is usable, else the least recently used
 * usable key. With none usable, says when the first frees up, or that all are disabled.
 */
/** A key at its cap of requests at once is busy: looked at again after this long. */
const BUSY_RETRY_MS = 1000

export function pickKey(states: readonly KeyState[], now: number, prefer?: string, model?: string, cap: number | null = null): KeyPick {
  let best: KeyState | null = null
  let earliest = Infinity
  for (const s of states) {
    let at = availableAt(s, now, model)
    if (at === 0 && cap !== null && s.inflight >= cap) at = now + BUSY_RETRY_MS
    if (at === 0) {
      if (prefer !== undefined && s.fingerprint === prefer) return { kind: 'key', state: s }
      if (!best || s.lastUsedSeq < best.lastUsedSeq) best = s
    } else if (at < earliest) {
      earliest = at
    }
  }
  if (best) return { kind: 'key', state: best }
  return earliest === Infinity ? { kind: 'disabled' } : { kind: 'cooling', until: earliest }
}

/** A provider's upstream keys and what the gateway has learned about each. */
const NO_LIMITS: UpstreamLimits = { requests: null, tokens: null }

export class KeyPool {
  readonly states: KeyState[]
  private sequence = 0

  constructor(
    keys: readonly string[],
    previous?: KeyPool,
    /** The provider type's reader of its limit headers. */
    private readonly readLimits: (headers: Headers, now: number) => UpstreamLimits = () => NO_LIMITS,
    labels: readonly (string | null)[] = [],
    /** Requests at once per key (an account that serves one conversation at a time); null: no cap. */
    private readonly cap: number | null = null,
  ) {
    // Keys that did not change keep what was learned about them (config reload).
    this.states = keys.map((key, i) => {
      const s = previous?.states.find((p) => p.key === key) ?? freshState(key)
      s.label = labels[i] ?? null
      return s
    })
    this.sequence = Math.max(0, ...this.states.map((s) => s.lastUsedSeq))
  }

  get keys(): string[] {
    return this.states.map((s) => s.key)
  }

  /** A key for a request; where keys are capped, the request holds it until `release`. */
  pick(now: number, prefer?: string, model?: string): KeyPick {
    const pick = pickKey(this.states, now, prefer, model, this.cap)
    // Marked at once, so concurrent requests spread over the pool.
    if (pick.kind === 'key') {
      pick.state.lastUsedAt = now
      pick.state.lastUsedSeq = ++this.sequence
      if (this.cap !== null) pick.state.inflight++
    }
    return pick
  }

  /** The request that picked the key is over (answered, failed, or gone). */
  release(s: KeyState): void {
    if (this.cap !== null && s.inflight > 0) s.inflight--
  }

  succeeded(s: KeyState, headers: Headers, now: number): void {
    s.okCount++
    s.strikes = 0
    this.learnLimits(s, headers, now)
  }

  /**
   * A 429: the key rests for what the upstream asked, or an exponential default; only for `model`
   * when the answer said the limit is that model's (a module adapter's `x-sluice-scope: model`).
   */
  rateLimited(s: KeyState, headers: Headers, now: number, message: string, hintMs?: number, model?: string): number {
    s.errorCount++
    s.lastError = { message, at: now }
    this.learnLimits(s, headers, now)
    const hinted = readRetryAfter(headers, now) ?? hintMs ?? null
    const resets = [s.requests, s.tokens]
      .filter((w) => w && w.remaining !== null && w.remaining <= 0 && w.resetAt !== null)
      .map((w) => w!.resetAt! - now)
    const wait = hinted ?? (resets.length > 0 ? Math.max(...resets) : Math.min(MAX_COOLDOWN_MS, BASE_COOLDOWN_MS * 2 ** s.strikes))
    s.strikes++
    if (model !== undefined) {
      s.modelCooldowns ??= new Map()
      s.modelCooldowns.set(model, now + Math.max(wait, 0))
      return wait
    }
    s.cooldownUntil = now + Math.max(wait, 0)
    return wait
  }

  disable(s: KeyState, reason: string, now: number): void {
    s.errorCount++
    s.disabled = { reason, at: now }
    s.lastError = { message: reason, at: now }
  }

  enable(s: KeyState): void {
    s.disabled = null
    s.cooldownUntil = 0
    s.modelCooldowns = null
    s.strikes = 0
  }

  failed(s: KeyState, message: string, now: number): void {
    s.errorCount++
    s.lastError = { message, at: now }
  }

  find(fp: string): KeyState | undefined {
    return this.states.find((s) => s.fingerprint === fp)
  }

  counts(now: number): { total: number; usable: number; cooling: number; disabled: number } {
    let usable = 0
    let cooling = 0
    let disabled = 0
    for (const s of this.states) {
      const at = availableAt(s, now)
      if (at === 0) usable++
      else if (at === Infinity) disabled++
      else cooling++
    }
    return { total: this.states.length, usable, cooling, disabled }
  }

  private learnLimits(s: KeyState, headers: Headers, now: number): void {
    const limits = this.readLimits(headers, now)
    if (limits.requests) s.requests = limits.requests
    if (limits.tokens) s.tokens = limits.tokens
  }
}

/** The last four characters (and a well-known prefix), enough to tell keys apart and never enough to use one. */
export function keyHint(key: string): string {
  if (key.length < 16) return '...'
  const prefix = /^(sk-ant-|sk-or-|sk-|gsk_|xai-|AIza)/.exec(key)?.[1] ?? ''
  return `${prefix}...${key.slice(-4)}`
}

function freshState(key: string): KeyState {
  return {
    key,
    fingerprint: fingerprint(key),
    hint: keyHint(key),
    label: null,
    lastUsedAt: 0,
    lastUsedSeq: 0,
    cooldownUntil: 0,
    modelCooldowns: null,
    inflight: 0,
    strikes: 0,
    disabled: null,
    requests: null,
    tokens: null,
    okCount: 0,
    errorCount: 0,
    lastError: null,
  }
}
