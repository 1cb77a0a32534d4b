export type CircuitState = 'closed' | 'open' | 'half_open'

/**
 * Stops sending traffic to a provider whose requests keep failing: after `threshold` failures in
 * a row it opens for `openMs`, then lets a single probe through; the probe's outcome closes it
 * or opens it again. Only provider failures count (5xx, network, timeouts), not a key's 429.
 */
export class CircuitBreaker {
  state: CircuitState = 'closed'
  failures = 0
  openedAt = 0
  private probing = false

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
  ) {}

  /** Whether a request may go to the provider now. In half-open state, only the one probe may. */
  allow(now: number): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open') {
      if (now - this.openedAt < this.openMs) return false
      this.state = 'half_open'
      this.probing = false
    }
    if (this.probing) return false
    this.probing = true
    return true
  }

  /** When the open circuit lets a probe through. */
  reopensAt(): number {
    return this.openedAt + this.openMs
  }

  /** The provider answered (even with a client error): it is alive. */
  success(): void {
    this.state = 'closed'
    this.failures = 0
    this.probing = false
  }

  failure(now: number): void {
    this.probing = false
    if (this.state === 'half_open' || ++this.failures >= this.threshold) {
      this.state = 'open'
      this.openedAt = now
      this.failures = 0
    }
  }
}

/** Most models a provider keeps a breaker for; closed ones are forgotten first. */
const MAX_BREAKERS = 1000

export interface BreakerChange {
  model: string
  state: CircuitState
  /** For an opened circuit: when it lets a probe through. */
  reopensAt?: number
}

/**
 * A provider's breakers, one per model: one model's failures (a model that is down, a deployment
 * that errors) must not stop a healthy model of the same provider. Told of every opening and
 * closing, for the log.
 */
export class CircuitBreakers {
  private readonly byModel = new Map<string, CircuitBreaker>()

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly onChange: (change: BreakerChange) => void = () => {},
  ) {}

  /** Whether these are the settings it was made with (a reload that changes them starts afresh). */
  hasSettings(threshold: number, openMs: number): boolean {
    return this.threshold === threshold && this.openMs === openMs
  }

  get(model: string): CircuitBreaker {
    let b = this.byModel.get(model)
    if (!b) {
      b = new WatchedBreaker(this.threshold, this.openMs, (state, reopensAt) => this.onChange({ model, state, ...(reopensAt ? { reopensAt } : {}) }))
      this.byModel.set(model, b)
      if (this.byModel.size > MAX_BREAKERS) {
        for (const [m, other] of this.byModel) {
          if (other.state === 'closed' && m !== model) {
            this.byModel.delete(m)
            break
          }
        }
      }
    }
    return b
  }

  /** Models whose circuit is not closed, with their state. */
  notClosed(): Array<{ model: string; state: CircuitState; reopens_at: string | null }> {
    const out: Array<{ model: string; state: CircuitState; reopens_at: string | null }> = []
    for (const [model, b] of this.byModel) {
      if (b.state !== 'closed') out.push({ model, state: b.state, reopens_at: b.state === 'open' ? new Date(b.reopensAt()).toISOString() : null })
    }
    return out
  }

  /** The provider's worst state: open if any model's circuit is open. */
  get state(): CircuitState {
    let worst: CircuitState = 'closed'
    for (const b of this.byModel.values()) {
      if (b.state === 'open') return 'open'
      if (b.state === 'half_open') worst = 'half_open'
    }
    return worst
  }
}

/** A breaker that says when it opens and when it closes again. */
class WatchedBreaker extends CircuitBreaker {
  constructor(threshold: number, openMs: number, private readonly told: (state: CircuitState, reopensAt?: number) => void) {
    super(threshold, openMs)
  }

  override success(): void {
    const was = this.state
    super.success()
    if (was !== 'closed') this.told('closed')
  }

  override failure(now: number): void {
    const was = this.state
    super.failure(now)
    if (this.state === 'open' && was !== 'open') this.told('open', this.reopensAt())
  }
}
