import type { ProviderConfig } from '../config/schema.ts'
import { fingerprint } from '../lib/crypto.ts'
import type { Logger } from '../observability/logger.ts'
import { protocolById } from '../protocols/registry.ts'
import { moduleAdapterType } from '../providers/module/index.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import type { KvStore } from './kit/kv.ts'
import { createAdapterLogger } from './kit/logger.ts'
import { createSafeFetch } from './kit/safe-fetch.ts'
import { singleFlight } from './kit/single-flight.ts'
import type { AdapterAccount, AdapterContext, AdapterModule } from './module-api.ts'

export interface ModuleProviderDeps {
  logger: Logger
  now: () => number
  /** The key-value store of one account of one provider. */
  kv(provider: string, accountId: string): KvStore
}

const decoder = new TextDecoder()

/** The account a key from the config file is: its token, read-only. */
function keyAccount(key: string, label: string | null): AdapterAccount {
  return Object.freeze({
    id: 'key:' + fingerprint(key),
    label,
    credentials: Object.freeze({ token: key }),
    save: async () => {
      throw new Error('a key from the config file cannot be replaced by the adapter; use a stored account')
    },
  })
}

/**
 * The provider adapter of one `type: module` provider: it speaks the module's protocol, and each
 * attempt calls the module's `handle` with a fresh context instead of making an HTTP request, so
 * pooling, cooldowns, limits, usage and translation are the gateway's as for any provider.
 */
export function moduleProvider(config: ProviderConfig, mod: AdapterModule, deps: ModuleProviderDeps): ProviderAdapter {
  const module = config.module!
  const protocol = protocolById(mod.protocol)
  const locks = singleFlight<string, unknown>()
  const labels = new Map(config.keys.map((k, i) => [k, config.key_labels[i] ?? null]))
  const logger = deps.logger.child({ provider: config.name, adapter: module.path })
  return {
    ...moduleAdapterType,
    speaks: () => [mod.protocol],
    operations: [protocol.operation],
    async exchange(input, signal) {
      const text = typeof input.payload === 'string' ? input.payload : decoder.decode(input.payload)
      const body = JSON.parse(text) as Record<string, unknown>
      const account = keyAccount(input.key, labels.get(input.key) ?? null)
      const ctx: AdapterContext = {
        options: module.options,
        provider: config.name,
        account,
        kv: deps.kv(config.name, account.id),
        fetch: createSafeFetch({ timeoutMs: config.timeouts.total_ms, connectTimeoutMs: config.timeouts.connect_ms, allowPrivate: module.allow_private, proxy: config.proxy ?? undefined, signal }),
        lock: <T>(key: string, work: () => Promise<T>) => locks.run(`${account.id}\u0000${key}`, work) as Promise<T>,
        log: createAdapterLogger(logger, { secrets: () => [input.key] }),
        signal,
        now: deps.now,
      }
      const response = await mod.handle({ model: input.model, stream: input.stream, body, headers: input.passHeaders }, ctx)
      if (!(response instanceof Response)) throw new Error(`handle returned ${typeof response}, not a Response`)
      return response
    },
  }
}
