import type { Config, ProviderConfig } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'
import type { AccountStore, StoredAccount } from '../storage/account-store.ts'
import type { AdapterAccount, Credentials } from './module-api.ts'

export interface Sealing {
  seal(plain: string): string
  open(sealed: string): string
}

/** Pool members that are stored accounts have ids of this form; keys from the config never do. */
export const ACCOUNT_PREFIX = 'acct_'

/**
 * The stored accounts as the running gateway sees them: read at start and whenever the store's
 * version moves, their credentials opened on first use, their saves written (sealed) before the
 * new credentials are used.
 */
export class AccountDirectory {
  private accounts: StoredAccount[] = []
  private version = -1
  private opened = new Map<string, { updatedAt: number; credentials: Credentials }>()
  private timer: ReturnType<typeof setInterval> | null = null

  constructor(
    readonly store: AccountStore,
    private readonly sealing: () => Sealing,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** Told after the list changed (an account added, removed, disabled): the pools are rebuilt. */
    private readonly onChange: () => Promise<void>,
  ) {}

  async load(): Promise<void> {
    this.version = await this.store.version()
    this.accounts = await this.store.list()
  }

  start(pollMs: number): void {
    this.timer = setInterval(() => {
      void (async () => {
        const version = await this.store.version()
        if (version === this.version) return
        const before = this.membership()
        await this.load()
        if (this.membership() !== before) await this.onChange()
      })().catch((err) => this.logger.error({ err: (err as Error).message }, 'could not refresh the accounts'))
    }, pollMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  list(provider?: string): StoredAccount[] {
    return provider ? this.accounts.filter((a) => a.provider === provider) : [...this.accounts]
  }

  /** Which accounts are pool members: only that changes the pools (a refresh does not). */
  private membership(): string {
    return this.accounts.filter((a) => a.enabled).map((a) => `${a.provider}/${a.id}/${a.label ?? ''}`).join('\n')
  }

  /** The config with each module and flow provider's enabled accounts added to its pool. */
  withAccounts(config: Config): Config {
    if (!this.accounts.some((a) => a.enabled)) return config
    const providers = config.providers.map((p): ProviderConfig => {
      if (!p.module) return p
      const members = this.accounts.filter((a) => a.enabled && a.provider === p.name)
      if (members.length === 0) return p
      return Object.freeze({ ...p, keys: Object.freeze([...p.keys, ...members.map((a) => a.id)]), key_labels: Object.freeze([...p.keys.map((_, i) => p.key_labels[i] ?? null), ...members.map((a) => a.label)]) })
    })
    return Object.freeze({ ...config, providers: Object.freeze(providers) })
  }

  /** Reads one account's record again from the store (before a refresh, which must use the latest token). */
  async reread(id: string): Promise<void> {
    const row = await this.store.get(id)
    const i = this.accounts.findIndex((a) => a.id === id)
    if (row && i >= 0) this.accounts[i] = row
  }

  /** When an account's record last changed (a refresh, a rotation); null when there is no such account. */
  updatedAt(id: string): number | null {
    return this.accounts.find((a) => a.id === id)?.updatedAt ?? null
  }

  /** The account a pool member id names, with its current credentials and a save that persists first. */
  account(id: string): AdapterAccount | null {
    const stored = this.accounts.find((a) => a.id === id)
    if (!stored) return null
    let cached = this.opened.get(id)
    if (!cached || cached.updatedAt !== stored.updatedAt) {
      cached = { updatedAt: stored.updatedAt, credentials: JSON.parse(this.sealing().open(stored.sealedCredentials)) as Credentials }
      this.opened.set(id, cached)
    }
    const credentials = Object.freeze({ ...cached.credentials })
    return Object.freeze({
      id,
      label: stored.label,
      credentials,
      save: (next: Record<string, unknown>) => this.save(id, next as Credentials),
    })
  }

  /** Writes new credentials (sealed), then makes them the ones in use. */
  async save(id: string, credentials: Credentials): Promise<void> {
    const stored = this.accounts.find((a) => a.id === id)
    if (!stored) throw new Error(`no account ${id}`)
    const now = this.now()
    const expiresAt = typeof credentials.expires_at === 'number' ? credentials.expires_at : null
    const sealed = this.sealing().seal(JSON.stringify(credentials))
    await this.store.saveCredentials(id, sealed, expiresAt, now)
    stored.sealedCredentials = sealed
    stored.expiresAt = expiresAt
    stored.updatedAt = now
    this.opened.set(id, { updatedAt: now, credentials })
  }

  /** Takes an account out of its pool for good, with the reason shown to the operator. */
  async disable(id: string, reason: string): Promise<void> {
    await this.store.setEnabled(id, false, reason.slice(0, 500), this.now())
    this.logger.error({ account: id, reason: reason.slice(0, 500) }, 'account disabled: its refresh was refused for good; log it in again')
    await this.load()
    await this.onChange()
  }
}
