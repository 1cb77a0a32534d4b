import type { ProviderConfig } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import { adapterFor } from '../providers/registry.ts'
import { KeyPool } from './key-pool.ts'

/** A configured provider with its live state. */
export interface ProviderRuntime {
  readonly name: string
  readonly config: ProviderConfig
  readonly adapter: ProviderAdapter
  readonly pool: KeyPool
  /** Model ids it serves; null while unknown (discovery pending or failed). */
  models: readonly string[] | null
  readonly explicitModels: boolean
}

export interface ResolvedModel {
  provider: ProviderRuntime
  /** The model name the upstream expects. */
  upstreamModel: string
}

export interface ModelEntry {
  id: string
  provider: string
}

const DISCOVERY_TIMEOUT_MS = 10_000
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

  constructor(
    configs: readonly ProviderConfig[],
    private readonly logger: Logger,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.providers = configs.map((config) => ({
      name: config.name,
      config,
      adapter: adapterFor(config.type),
      pool: new KeyPool(config.keys),
      models: config.models ? [...config.models] : null,
      explicitModels: config.models !== undefined,
    }))
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

  async resolve(model: string): Promise<ResolvedModel | null> {
    return this.lookup(model) ?? (await this.initial.then(() => this.lookup(model) ?? this.fallback(model)))
  }

  /** Every model id clients may use: `provider/model` always, the bare id where only one provider has it. */
  list(): ModelEntry[] {
    const entries: ModelEntry[] = []
    for (const p of this.providers) for (const m of p.models ?? []) entries.push({ id: `${p.name}/${m}`, provider: p.name })
    for (const [id, owners] of this.bare) if (owners.length === 1) entries.push({ id, provider: owners[0]!.name })
    return entries
  }

  private lookup(model: string): ResolvedModel | null {
    const slash = model.indexOf('/')
    if (slash > 0) {
      const provider = this.providers.find((p) => p.name === model.slice(0, slash))
      const rest = model.slice(slash + 1)
      // An explicit list is a promise about what may be used; a discovered one may lag the upstream.
      if (provider && rest && (!provider.explicitModels || provider.models!.includes(rest))) {
        return { provider, upstreamModel: rest }
      }
    }
    // Bare ids may contain slashes too (`meta-llama/Llama-3-8B` on vLLM). Several owners: config order.
    const owner = this.bare.get(model)?.[0]
    return owner ? { provider: owner, upstreamModel: model } : null
  }

  /** An unknown model goes to a provider whose list could not be discovered, which will judge it. */
  private fallback(model: string): ResolvedModel | null {
    const unknown = this.providers.find((p) => p.models === null)
    return unknown ? { provider: unknown, upstreamModel: model } : null
  }

  private async discoverAll(): Promise<void> {
    await Promise.all(this.providers.filter((p) => !p.explicitModels).map((p) => this.discover(p)))
    this.reindex()
  }

  private async discover(provider: ProviderRuntime): Promise<void> {
    const key = provider.pool.keys[0]
    if (!key) return
    const { url, headers } = provider.adapter.modelsRequest({
      baseUrl: provider.config.base_url,
      key,
      headers: provider.config.headers,
    })
    try {
      const res = await this.fetchFn(url, { headers, signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const models = provider.adapter.parseModels(await res.json())
      if (models.length === 0) throw new Error('the upstream listed no models')
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
