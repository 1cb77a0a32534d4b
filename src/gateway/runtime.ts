import type { Config } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import { ModelCatalog } from './routing/catalog.ts'
import type { DisabledKeyRecord } from './ports.ts'
import { Router } from './routing/router.ts'

/** Everything derived from one config; swapped whole on reload, so a request sees one version. */
export interface Runtime {
  config: Config
  catalog: ModelCatalog
  router: Router
}

export interface RuntimeOptions {
  now: () => number
  random?: () => number
  fetchFn?: typeof fetch
  /** Keys disabled in an earlier run; they stay disabled until re-enabled or replaced. */
  disabled?: readonly DisabledKeyRecord[]
  /** Per-provider adapters that replace the type's (a `type: module` provider's loaded adapter). */
  adapters?: ReadonlyMap<string, ProviderAdapter>
}

export function buildRuntime(config: Config, logger: Logger, options: RuntimeOptions, previous?: Runtime): Runtime {
  const catalog = new ModelCatalog(config.providers, logger, {
    breaker: config.circuit_breaker,
    fetchFn: options.fetchFn,
    previous: previous?.catalog,
    maxBodyBytes: config.upstream.max_body_bytes,
    adapters: options.adapters,
  })
  for (const record of options.disabled ?? []) {
    const state = catalog.providers.find((p) => p.name === record.provider)?.pool.find(record.fingerprint)
    if (state && !state.disabled) state.disabled = { reason: record.reason, at: record.disabledAt }
  }
  const router = new Router(
    catalog,
    config.aliases,
    { stickyTtlMs: config.routing.sticky_ttl_ms, now: options.now, random: options.random },
    previous?.router,
  )
  return { config, catalog, router }
}
