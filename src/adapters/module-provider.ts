import type { ProviderConfig } from '../config/schema.ts'
import { fingerprint } from '../lib/crypto.ts'
import type { Logger } from '../observability/logger.ts'
import { protocolById } from '../protocols/registry.ts'
import { moduleAdapterType } from '../providers/module/index.ts'
import type { ProviderAdapter } from '../providers/types.ts'
import { ACCOUNT_PREFIX, type AccountDirectory } from './accounts.ts'
import { AccountError } from './kit/errors.ts'
import type { KvStore } from './kit/kv.ts'
import type { Fixtures } from './kit/fixtures.ts'
import { adapterContext } from './context.ts'
import { singleFlight } from './kit/single-flight.ts'
import type { AdapterAccount, AdapterContext, AdapterModule } from './module-api.ts'

export interface ModuleProviderDeps {
  logger: Logger
  now: () => number
  /** The key-value store of one account of one provider. */
  kv(provider: string, accountId: string): KvStore
  /** Stored accounts (pool members whose id starts with acct_). */
  accounts?: AccountDirectory
  /** The test kit: record the adapter's exchanges, or answer them from a recording. */
  fixtures?: Fixtures | null
}

/** A stored account's token is refreshed this long before it expires. */
const REFRESH_AHEAD_MS = 60_000
/** After a refresh that failed for now, the account rests this long (seconds) before it is tried again. */
const TRANSIENT_COOLDOWN_S = 30
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

/** An answer the pool understands whatever the protocol: 401 (the account is unusable) or 429 (rest it). */
function accountFailure(status: 401 | 429, message: string): Response {
  return Response.json({ error: { message, type: status === 401 ? 'authentication_error' : 'rate_limit_error' } }, { status, headers: status === 429 ? { 'retry-after': String(TRANSIENT_COOLDOWN_S) } : {} })
}

/**
 * The provider adapter of one `type: module` (or `type: flow`) provider: it speaks the module's
 * protocol, and each attempt calls the module's `handle` with a fresh context instead of making an
 * HTTP request, so pooling, cooldowns, limits, usage and translation are the gateway's as for any
 * provider. A stored account is refreshed ahead of its expiry, once at a time however many
 * requests need it, and its new credentials are saved before they are used.
 */
export function moduleProvider(config: ProviderConfig, mod: AdapterModule, deps: ModuleProviderDeps): ProviderAdapter {
  const protocol = protocolById(mod.protocol)
  const locks = singleFlight<string, unknown>()
  const labels = new Map(config.keys.map((k, i) => [k, config.key_labels[i] ?? null]))
  const logger = deps.logger.child({ provider: config.name, adapter: config.module!.path })

  const contextFor = (account: AdapterAccount, signal: AbortSignal): AdapterContext =>
    adapterContext(config, account, {
      kv: deps.kv(config.name, account.id),
      lock: <T>(key: string, work: () => Promise<T>) => locks.run(`${account.id}\u0000${key}`, work) as Promise<T>,
      log: logger,
      signal,
      now: deps.now,
      fixtures: deps.fixtures,
    })

  /** The account with fresh credentials: refreshed when `force`d or about to expire, by one caller at a time. */
  async function fresh(id: string, signal: AbortSignal, force: boolean, usedVersion?: number | null): Promise<AdapterAccount | Response> {
    const accounts = deps.accounts!
    // A refused token is judged by the record it came from: if that record has changed since (another
    // request refreshed while this one was waiting for its answer), the newer credentials are used.
    const version = usedVersion !== undefined ? usedVersion : accounts.updatedAt(id)
    const current = accounts.account(id)
    if (!current) return accountFailure(401, `account ${id} is no longer stored`)
    if (!mod.refresh || (!force && !due(current))) return current
    return (await locks.run(`refresh\u0000${id}`, async () => {
      // Another process (the CLI, another instance) may have rotated the refresh token since this one
      // last read it: refreshing with a spent one would look like invalid_grant.
      await accounts.reread(id)
      // Refreshed by another request since this one looked: that is fresh enough.
      const latest = accounts.account(id)
      if (!latest) return accountFailure(401, `account ${id} is no longer stored`)
      if (accounts.updatedAt(id) !== version && !due(latest)) return latest
      try {
        const next = await mod.refresh!(latest, contextFor(latest, signal))
        await accounts.save(id, next)
        logger.info({ account: id }, 'account refreshed')
        return accounts.account(id)!
      } catch (err) {
        const message = (err as Error).message ?? String(err)
        if ((err instanceof AccountError && err.permanent) || /invalid_grant/.test(message)) {
          await accounts.disable(id, message)
          return accountFailure(401, `account ${id}: its refresh was refused: ${message.slice(0, 200)}`)
        }
        logger.warn({ account: id, err: message.slice(0, 300) }, 'account refresh failed; it rests and is tried again')
        return accountFailure(429, `account ${id}: its refresh failed for now: ${message.slice(0, 200)}`)
      }
    })) as AdapterAccount | Response
  }
  const due = (a: AdapterAccount) => typeof a.credentials.expires_at === 'number' && a.credentials.expires_at - deps.now() < REFRESH_AHEAD_MS

  return {
    ...moduleAdapterType,
    speaks: () => [mod.protocol],
    operations: [protocol.operation],
    async exchange(input, signal) {
      const text = typeof input.payload === 'string' ? input.payload : decoder.decode(input.payload)
      const body = JSON.parse(text) as Record<string, unknown>
      const stored = input.key.startsWith(ACCOUNT_PREFIX) && deps.accounts !== undefined
      let account: AdapterAccount | Response = stored ? await fresh(input.key, signal, false) : keyAccount(input.key, labels.get(input.key) ?? null)
      const usedVersion = stored ? deps.accounts!.updatedAt(input.key) : null
      if (account instanceof Response) return account
      const request = { model: input.model, stream: input.stream, body, headers: input.passHeaders }
      let response = await mod.handle(request, contextFor(account, signal))
      if (!(response instanceof Response)) throw new Error(`handle returned ${typeof response}, not a Response`)
      // A stored account's token refused: one refresh, one more try.
      if (response.status === 401 && stored && mod.refresh) {
        response.body?.cancel().catch(() => {})
        account = await fresh(input.key, signal, true, usedVersion)
        if (account instanceof Response) return account
        response = await mod.handle(request, contextFor(account, signal))
      }
      return response
    },
  }
}
