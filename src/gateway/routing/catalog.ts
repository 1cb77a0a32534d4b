import type { ProviderConfig } from '../../config/schema.ts'
import type { Logger } from '../../observability/logger.ts'
import type { ProviderAdapter } from '../../providers/types.ts'
import { adapterFor } from '../../providers/registry.ts'
import { fetchModelList } from '../../providers/model-list.ts'
import { CircuitBreakers } from './circuit-breaker.ts'
import { KeyPool } from './key-pool.ts'

/** A configured provider with its live state. */
export interface ProviderRuntime {
  readonly name: string
  readonly config: ProviderConfig
  readonly adapter: ProviderAdapter
  readonly pool: KeyPool
  /** One circuit breaker per model of this provider. */
  readonly breakers: CircuitBreakers
  /** Model ids it serves; null while unknown (discovery pending or failed). */
  models: readonly string[] | null
  readonly explicitModels: boolean
  readonly filters: readonly RegExp[] | null
}

/** One place a request can go: a provider and the model name it expects. */
export interface Target {
  provider: ProviderRuntime
  upstreamModel: string
  /** `provider/model`, as clients and logs name it. */
  label: string
}

export interface CatalogOptions {
  breaker: { failure_threshold: number; open_ms: number }
  fetchFn?: typeof fetch
  /** The catalog being replaced (config reload): unchanged providers keep their state. */
  previous?: ModelCatalog
  /** A model list may be at most this long (after decompression). */
  maxBodyBytes?: number
  /** Per-provider adapters that replace the type's (a `type: module` provider's loaded adapter). */
  adapters?: ReadonlyMap<string, ProviderAdapter>
}

export interface ModelEntry {
  id: string
  provider: string
}

const DISCOVERY_TIMEOUT_MS = 10_000
const MAX_LIST_BYTES = 64 * 1024 * 1024
const REFRESH_EVERY_MS = 5 * 60_000

/**
 * Knows which provider serves which model. Lists come from the config or from each upstream's
 * `GET /models`, refreshed every few minutes; a failed refresh keeps the last good list.
 */
export class ModelCatalog {
  readonly providers: ProviderRuntime[]
  private bare = new Map<string, ProviderRuntime[]>()
  private initial: Promise<void> = Promise.resolve()
  private timer: ReturnType<typeof setInterval> | null = null

  private readonly fetchFn: typeof fetch
  private readonly maxBodyBytes: number

  constructor(
    configs: readonly ProviderConfig[],
    private readonly logger: Logger,
    options: CatalogOptions,
  ) {
    this.fetchFn = options.fetchFn ?? fetch
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_LIST_BYTES
    this.providers = configs.map((config) => {
      const before = options.previous?.providers.find((p) => p.name === config.name)
      const sameSource = before && before.config.base_url === config.base_url &&
        JSON.stringify(before.config.models) === JSON.stringify(config.models) &&
        JSON.stringify(before.config.model_filters) === JSON.stringify(config.model_filters)
      const adapter = options.adapters?.get(config.name) ?? adapterFor(config.type)
      return {
        name: config.name,
        config,
        adapter,
        pool: new KeyPool(config.keys, before?.pool, adapter.readLimits, config.key_labels, config.max_concurrent_per_key),
        breakers: before?.breakers.hasSettings(options.breaker.failure_threshold, options.breaker.open_ms) ? before.breakers : new CircuitBreakers(options.breaker.failure_threshold, options.breaker.open_ms, (c) => {
          if (c.state === 'open') this.logger.warn({ provider: config.name, model: c.model, until: new Date(c.reopensAt!).toISOString() }, 'circuit opened: the model keeps failing; paused')
          else this.logger.info({ provider: config.name, model: c.model }, 'circuit closed: the model answers again')
        }),
        models: config.models ? [...config.models] : sameSource ? before.models : null,
        explicitModels: config.models !== undefined,
        filters: config.model_filters ? config.model_filters.map((f) => new RegExp(f)) : null,
      }
    })
    this.reindex()
  }

  /** Starts discovery in the background; requests do not wait for it unless they must. */
  start(): void {
    this.initial = this.discoverAll()
    this.timer = setInterval(() => void this.discoverAll(), REFRESH_EVERY_MS)
    this.timer.unref?.()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  /**
   * Where a model can be served, best first: `provider/model` names one place; a bare id may be
   * served by several providers (config order), which are then each other's failover.
   */
  async resolve(model: string): Promise<Target[]> {
    const found = this.lookup(model)
    if (found.length > 0) return found
    await this.initial
    const again = this.lookup(model)
    return again.length > 0 ? again : this.fallback(model)
  }

  /** A `provider/model` target without checking the provider's list (alias targets). */
  target(label: string): Target | null {
    const slash = label.indexOf('/')
    const provider = this.providers.find((p) => p.name === label.slice(0, slash))
    return provider ? { provider, upstreamModel: label.slice(slash + 1), label } : null
  }

  /** Every model id clients may use: `provider/model` always, the bare id where only one provider has it. */
  /**
   * Each served model once, under its canonical id: the bare id when one provider serves it, else
   * `provider/model`. Both forms keep working when requested; a picker just shows no doubles.
   */
  list(): ModelEntry[] {
    const entries: ModelEntry[] = []
    for (const p of this.providers) {
      for (const m of p.models ?? []) entries.push({ id: this.bare.get(m)?.length === 1 ? m : `${p.name}/${m}`, provider: p.name })
    }
    return entries
  }

  private lookup(model: string): Target[] {
    const slash = model.indexOf('/')
    if (slash > 0) {
      const provider = this.providers.find((p) => p.name === model.slice(0, slash))
      const rest = model.slice(slash + 1)
      // An explicit or filtered list is a promise about what may be used; a discovered one may
      // lag the upstream, which then judges the model itself.
      const listed = provider?.models?.includes(rest) ?? false
      const restricted = provider && (provider.explicitModels || (provider.filters !== null && provider.models !== null))
      if (provider && rest && (listed || !restricted)) return [{ provider, upstreamModel: rest, label: model }]
    }
    // Bare ids may contain slashes too (`meta-llama/Llama-3-8B` on vLLM).
    return (this.bare.get(model) ?? []).map((p) => ({ provider: p, upstreamModel: model, label: `${p.name}/${model}` }))
  }

  /** An unknown model goes to a provider whose list could not be discovered, which will judge it. */
  private fallback(model: string): Target[] {
    const unknown = this.providers.find((p) => p.models === null)
    return unknown ? [{ provider: unknown, upstreamModel: model, label: `${unknown.name}/${model}` }] : []
  }

  private async discoverAll(): Promise<void> {
    await Promise.all(this.providers.filter((p) => !p.explicitModels).map((p) => this.discover(p)))
    this.reindex()
  }

  private async discover(provider: ProviderRuntime): Promise<void> {
    const key = provider.pool.states.find((s) => !s.disabled)?.key
    if (!key) return
    try {
      const { models: listed } = await fetchModelList(
        provider.adapter,
        { baseUrl: provider.config.base_url, key, headers: provider.config.headers, model: '', stream: false },
        { fetchFn: this.fetchFn, proxy: provider.config.proxy, timeoutMs: DISCOVERY_TIMEOUT_MS, maxBytes: this.maxBodyBytes },
      )
      const models = provider.filters ? listed.filter((m) => provider.filters!.some((f) => f.test(m))) : listed
      if (models.length === 0) throw new Error(`the upstream listed no ${provider.filters ? 'matching ' : ''}models`)
      provider.models = models
      this.logger.debug({ provider: provider.name, models: models.length }, 'models discovered')
    } catch (err) {
      this.logger.warn(
        { provider: provider.name, err: (err as Error).message, kept: provider.models?.length ?? 0 },
        'model discovery failed; keeping the last known list',
      )
    }
  }

  private reindex(): void {
    const bare = new Map<string, ProviderRuntime[]>()
    for (const p of this.providers) {
      for (const m of p.models ?? []) {
        const owners = bare.get(m)
        if (owners) owners.push(p)
        else bare.set(m, [p])
      }
    }
    this.bare = bare
  }
}
