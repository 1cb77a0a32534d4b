import type { ProviderConfig } from '../config/schema.ts'
import type { Fixtures } from './kit/fixtures.ts'
import { recordingFetch, replayingFetch } from './kit/fixtures.ts'
import type { KvStore } from './kit/kv.ts'
import { createAdapterLogger, type LogTarget } from './kit/logger.ts'
import { createSafeFetch, type SafeFetch } from './kit/safe-fetch.ts'
import type { AdapterAccount, AdapterContext } from './module-api.ts'

export interface ContextParts {
  kv: KvStore
  lock: <T>(key: string, work: () => Promise<T>) => Promise<T>
  log: LogTarget
  signal: AbortSignal
  now: () => number
  fixtures?: Fixtures | null
  /** The whole exchange's bound; the provider's total timeout by default. */
  timeoutMs?: number
}

/** The account's string credentials: what its logger must never write. */
export const credentialSecrets = (account: AdapterAccount) => () => Object.values(account.credentials).filter((v): v is string => typeof v === 'string')

/** The fetch as the test kit wants it: recording what the upstream answers, or answering from a recording. */
function withFixtures(fetch: SafeFetch, fixtures: Fixtures | null, secrets: () => readonly string[]): SafeFetch {
  if (!fixtures) return fetch
  return fixtures.mode === 'record' ? recordingFetch(fetch, fixtures.path, secrets) : replayingFetch(fixtures.path, secrets)
}

/** The context of one call of an adapter (a request, a refresh, a quota probe) on one account. */
export function adapterContext(provider: ProviderConfig, account: AdapterAccount, parts: ContextParts): AdapterContext {
  const module = provider.module!
  const secrets = credentialSecrets(account)
  const fetch = createSafeFetch({ timeoutMs: parts.timeoutMs ?? provider.timeouts.total_ms, connectTimeoutMs: provider.timeouts.connect_ms, allowPrivate: module.allow_private, proxy: provider.proxy ?? undefined, signal: parts.signal })
  return {
    options: module.options,
    provider: provider.name,
    account,
    kv: parts.kv,
    fetch: withFixtures(fetch, parts.fixtures ?? null, secrets),
    lock: parts.lock,
    log: createAdapterLogger(parts.log, { secrets }),
    signal: parts.signal,
    now: parts.now,
  }
}
