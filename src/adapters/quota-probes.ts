import { createMemoryKv } from './kit/kv.ts'
import { adapterContext } from './context.ts'
import type { AccountDirectory } from './accounts.ts'
import type { AdapterModules } from './modules.ts'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'

/** A probe result is shown for this long before the next view asks again. */
const FRESH_MS = 5 * 60_000
const PROBE_TIMEOUT_MS = 10_000

export interface QuotaView {
  quota: Record<string, unknown> | null
  error: string | null
  at: string
}

/**
 * The adapters' quota probes of stored accounts, run while someone looks (the admin API or the
 * dashboard asks): each view gets the last results and starts new probes for those older than
 * five minutes, in the background, so a slow upstream never slows the page.
 */
export class QuotaProbes {
  private results = new Map<string, QuotaView>()
  private running = new Set<string>()

  constructor(private readonly deps: { accounts: AccountDirectory; modules: AdapterModules; config: () => Config; logger: Logger; now: () => number }) {}

  /** The last result per account id; probes the stale ones in the background. */
  view(): Map<string, QuotaView> {
    for (const provider of this.deps.config().providers) {
      const mod = provider.module ? this.deps.modules.moduleOf(provider.name) : null
      if (!mod?.quota) continue
      for (const stored of this.deps.accounts.list(provider.name)) {
        if (!stored.enabled || this.running.has(stored.id)) continue
        const last = this.results.get(stored.id)
        if (last && this.deps.now() - Date.parse(last.at) < FRESH_MS) continue
        const account = this.deps.accounts.account(stored.id)
        if (!account) continue
        this.running.add(stored.id)
        const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS)
        void mod
          .quota(adapterContext(provider, account, { kv: createMemoryKv({ now: this.deps.now }), lock: (_key, work) => work(), log: this.deps.logger, signal, now: this.deps.now, timeoutMs: PROBE_TIMEOUT_MS }))
          .then(
            (quota) => this.results.set(stored.id, { quota, error: null, at: new Date(this.deps.now()).toISOString() }),
            (err) => this.results.set(stored.id, { quota: null, error: String((err as Error)?.message ?? err).slice(0, 300), at: new Date(this.deps.now()).toISOString() }),
          )
          .finally(() => this.running.delete(stored.id))
      }
    }
    return this.results
  }
}
