import { describeSchemaErrors } from '../config/errors.ts'
import type { Config, ProviderConfig } from '../config/schema.ts'
import type { AdapterModule } from './module-api.ts'
import type { Logger } from '../observability/logger.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import { createKit } from './kit/index.ts'
import { createMemoryKv, type KvStore } from './kit/kv.ts'
import { AdapterLoadError, loadAdapterModule } from './load-module.ts'
import { moduleProvider } from './module-provider.ts'
import { fixturesFromEnv, type Fixtures } from './kit/fixtures.ts'
import type { AccountDirectory } from './accounts.ts'
import { flowModule } from './flow/index.ts'
import { FLOW_MODULE } from '../providers/module/index.ts'

/**
 * The adapter files of a config's `type: module` providers, loaded (again when changed) before
 * each runtime is built: their adapters, or one problem line per provider naming the field.
 */
export class AdapterModules {
  private readonly kit = createKit()
  private readonly loadedAt = new Map<string, number>()
  private readonly stores = new Map<string, KvStore>()
  private readonly flow = flowModule(this.kit)
  private readonly loaded = new Map<string, AdapterModule>()

  /** SLUICE_ADAPTER_RECORD / SLUICE_ADAPTER_REPLAY: the test kit's recording (read once, at start). */
  private readonly fixtures: Fixtures | null

  constructor(private readonly deps: { logger: Logger; now: () => number; accounts?: AccountDirectory; kv?: (provider: string, account: string) => KvStore; env?: Record<string, string | undefined> }) {
    this.fixtures = fixturesFromEnv(deps.env ?? process.env)
    if (this.fixtures) deps.logger.warn({ mode: this.fixtures.mode, file: this.fixtures.path }, 'adapter test kit on: module providers ' + (this.fixtures.mode === 'record' ? 'record their exchanges' : 'answer from a recording, not the network'))
  }

  async prepare(config: Config): Promise<{ adapters: Map<string, ProviderAdapter>; problems: string[] }> {
    const adapters = new Map<string, ProviderAdapter>()
    const problems: string[] = []
    for (const [i, provider] of config.providers.entries()) {
      if (!provider.module) continue
      const at = `providers[${i}]`
      const builtin = provider.module.path === FLOW_MODULE
      let mod
      try {
        mod = await this.load(provider)
      } catch (err) {
        if (!(err instanceof AdapterLoadError)) throw err
        problems.push(`${at}.path: ${err.message}`)
        continue
      }
      const optionProblems = mod.options ? describeSchemaErrors(mod.options, provider.module.options) : []
      if (optionProblems.length > 0) {
        const field = builtin ? 'flow' : 'options'
        problems.push(...optionProblems.map((p) => `${at}.${field}${p.startsWith('(top level)') ? p.slice('(top level)'.length) : '.' + p}`))
        continue
      }
      this.loaded.set(provider.name, mod)
      adapters.set(provider.name, moduleProvider(provider, mod, { logger: this.deps.logger, now: this.deps.now, accounts: this.deps.accounts, fixtures: this.fixtures, kv: (p, account) => this.store(p, account) }))
    }
    return { adapters, problems }
  }

  /** A module or flow provider's adapter (loaded again when its file changed). */
  load(provider: ProviderConfig): Promise<AdapterModule> {
    if (!provider.module) throw new AdapterLoadError(`provider ${provider.name} is not of type module or flow`)
    return provider.module.path === FLOW_MODULE ? Promise.resolve(this.flow) : loadAdapterModule(provider.module.path, this.kit, this.loadedAt)
  }

  /** The adapter in force for a provider, as the last prepare loaded it. */
  moduleOf(provider: string): AdapterModule | null {
    return this.loaded.get(provider) ?? null
  }

  /** The values an adapter keeps per account (conversation ids, short-lived tokens): in the database when given one. */
  private store(provider: string, account: string): KvStore {
    if (this.deps.kv) return this.deps.kv(provider, account)
    const key = `${provider}\u0000${account}`
    let store = this.stores.get(key)
    if (!store) this.stores.set(key, (store = createMemoryKv({ now: this.deps.now })))
    return store
  }
}
