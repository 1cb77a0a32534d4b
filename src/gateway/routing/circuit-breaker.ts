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
