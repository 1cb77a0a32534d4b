import type { AliasConfig } from '../../config/schema.ts'
import type { ModelCatalog, Target } from './catalog.ts'

export interface RoutePlan {
  /** Where to try, in order; later ones are the fallbacks. */
  targets: Target[]
  alias: AliasConfig | null
  /** The conversation's pinned target and key, when stickiness applies and a pin exists. */
  pin: StickyPin | null
  /** Whether successful answers should pin the conversation. */
  sticky: boolean
}

export interface StickyPin {
  label: string
  fingerprint: string
}

export interface RouterOptions {
  stickyTtlMs: number
  now: () => number
  random?: () => number
  /** Most conversations remembered for stickiness; the oldest are forgotten first. */
  maxPins?: number
}

const LATENCY_WEIGHT = 0.3

/**
 * Turns a requested model into an ordered list of targets: aliases by their strategy, bare ids over
 * every provider that serves them, and a sticky conversation's previous target first.
 */
export class Router {
  private readonly aliases: Map<string, AliasConfig>
  private readonly patterns: Array<{ test: RegExp; alias: AliasConfig }>
  private readonly rotation = new Map<string, number>()
  private readonly latency = new Map<string, number>()
  private readonly pins = new Map<string, StickyPin & { expiresAt: number }>()
  private readonly random: () => number

  constructor(
    private readonly catalog: ModelCatalog,
    aliases: readonly AliasConfig[],
    private readonly options: RouterOptions,
    previous?: Router,
  ) {
    this.aliases = new Map(aliases.filter((a) => !a.pattern).map((a) => [a.name, a]))
    this.patterns = aliases.filter((a) => a.pattern).map((a) => ({ test: new RegExp(a.pattern!), alias: a }))
    this.random = options.random ?? Math.random
    if (previous) {
      for (const [k, v] of previous.latency) this.latency.set(k, v)
      for (const [k, v] of previous.pins) this.pins.set(k, v)
    }
  }

  /**
   * `stickyKey` is computed only when stickiness applies. `continues` names a pin that applies
   * whatever the stickiness settings (a stored answer the request continues).
   */
  async plan(model: string, stickyKey: () => string | null, continues?: string): Promise<RoutePlan | null> {
    let alias = this.aliases.get(model) ?? null
    let targets: Target[] = alias ? this.aliasTargets(alias) : this.byPriority(await this.catalog.resolve(model))
    // A pattern alias covers the ids no provider serves by that name.
    if (!alias && targets.length === 0) {
      alias = this.patterns.find((p) => p.test.test(model))?.alias ?? null
      if (alias) targets = this.aliasTargets(alias)
    }
    if (targets.length === 0) return null
    const sticky = alias ? alias.sticky : targets[0]!.provider.config.sticky
    const key = continues ?? (sticky ? stickyKey() : null)
    const pin = key ? this.pinned(key) : null
    if (pin) {
      const at = targets.findIndex((t) => t.label === pin.label)
      if (at > 0) targets = [targets[at]!, ...targets.slice(0, at), ...targets.slice(at + 1)]
    }
    return { targets, alias, pin: pin && targets[0]!.label === pin.label ? pin : null, sticky }
  }

  /**
   * Providers that serve the same model: the higher priority first; among one priority, a weighted
   * draw when any of them has a weight, else the order of the file. The rest follow as fallbacks.
   */
  private byPriority(targets: Target[]): Target[] {
    if (targets.length < 2) return targets
    const priorities = [...new Set(targets.map((t) => t.provider.config.priority))].sort((a, b) => b - a)
    return priorities.flatMap((p) => {
      const group = targets.filter((t) => t.provider.config.priority === p)
      if (group.length < 2 || group.every((t) => t.provider.config.weight === null)) return group
      return this.weightedOrder(group, group.map((t) => t.provider.config.weight ?? 1))
    })
  }

  /** One draw by weight for the first; the rest by weight, heaviest first. */
  private weightedOrder(targets: Target[], weights: readonly number[]): Target[] {
    const total = weights.reduce((a, b) => a + b, 0)
    let roll = this.random() * total
    let first = targets.length - 1
    for (let i = 0; i < targets.length; i++) {
      roll -= weights[i]!
      if (roll < 0) {
        first = i
        break
      }
    }
    const rest = targets.map((t, i) => ({ t, w: weights[i]! })).filter((_, i) => i !== first).sort((a, b) => b.w - a.w)
    return [targets[first]!, ...rest.map((r) => r.t)]
  }

  private aliasTargets(alias: AliasConfig): Target[] {
    return this.order(alias, alias.targets.map((t) => this.catalog.target(t)).filter((t): t is Target => t !== null))
  }

  /** Remembers which target and key served a conversation. */
  pin(stickyKey: string, label: string, fingerprint: string): void {
    this.pins.delete(stickyKey)
    this.pins.set(stickyKey, { label, fingerprint, expiresAt: this.options.now() + this.options.stickyTtlMs })
    const max = this.options.maxPins ?? 10_000
    while (this.pins.size > max) this.pins.delete(this.pins.keys().next().value!)
  }

  /** Feeds the least-latency strategy (an exponentially weighted average per target). */
  recordLatency(label: string, ms: number): void {
    const before = this.latency.get(label)
    this.latency.set(label, before === undefined ? ms : before + LATENCY_WEIGHT * (ms - before))
  }

  latencyOf(label: string): number | undefined {
    return this.latency.get(label)
  }

  private pinned(stickyKey: string): StickyPin | null {
    const pin = this.pins.get(stickyKey)
    if (!pin) return null
    if (pin.expiresAt <= this.options.now()) {
      this.pins.delete(stickyKey)
      return null
    }
    return pin
  }

  private order(alias: AliasConfig, targets: Target[]): Target[] {
    switch (alias.strategy) {
      case 'round-robin': {
        const n = this.rotation.get(alias.name) ?? 0
        this.rotation.set(alias.name, (n + 1) % targets.length)
        return [...targets.slice(n % targets.length), ...targets.slice(0, n % targets.length)]
      }
      case 'weighted':
        return this.weightedOrder(targets, alias.weights ?? targets.map(() => 1))
      case 'least-latency':
        // Unmeasured targets first, so every target gets measured.
        return [...targets].sort((a, b) => (this.latency.get(a.label) ?? -1) - (this.latency.get(b.label) ?? -1))
      default:
        return targets
    }
  }
}
