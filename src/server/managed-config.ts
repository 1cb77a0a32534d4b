import { mergeManaged, type EntryStatus, type ManagedInput, type StoredAliasSpec, type StoredPriceSpec, type StoredProviderSpec } from '../config/managed.ts'
import type { Config } from '../config/schema.ts'
import type { Logger } from '../observability/logger.ts'
import type { ManagedEntry, ManagedKind, ManagedStore } from '../storage/managed-store.ts'
import { SealError, type SecretBox } from '../lib/seal.ts'
import type { SecretKeySource } from './secret-key.ts'

/**
 * The providers, aliases and prices kept in the database, as the running server sees them: read once
 * at start, again whenever the store's version moves (an edit here or in another process), and merged
 * with the file's config on every change or reload.
 */
export class ManagedConfig {
  private entries: ManagedEntry[] = []
  private version = -1
  private timer: ReturnType<typeof setInterval> | null = null
  private statusList: EntryStatus[] = []

  constructor(
    readonly store: ManagedStore,
    private readonly secretKey: SecretKeySource,
    private readonly logger: Logger,
    /** Called after the entries changed: the server merges and puts the result in force. */
    private readonly onChange: () => Promise<void>,
  ) {}

  async load(): Promise<void> {
    this.version = await this.store.version()
    this.entries = await this.store.list()
  }

  /** The entries as last read. */
  list(kind: ManagedKind): ManagedEntry[] {
    return this.entries.filter((e) => e.kind === kind)
  }

  get statuses(): readonly EntryStatus[] {
    return this.statusList
  }

  status(kind: ManagedKind, name: string): EntryStatus | undefined {
    return this.statusList.find((s) => s.kind === kind && s.name === name)
  }

  /** The box that seals new secrets (made on first use next to an embedded database). */
  sealer(): SecretBox {
    const box = this.secretKey.box({ create: true })
    if (!box) throw new SealError(`secrets added in the dashboard are sealed with a key, and none is set: set ${this.secretKey.where}`)
    return box
  }

  /** Opens a stored secret; throws when no key is there to open it. */
  open = (sealed: string): string => {
    const box = this.secretKey.box({ create: false })
    if (!box) throw new SealError(`the secret key (${this.secretKey.where}) is missing, so this secret cannot be read`)
    return box.open(sealed)
  }

  /** The file's config with the stored entries merged in; secrets opened are returned for scrubbing. */
  merge(file: Config): { config: Config; secrets: string[] } {
    const input: ManagedInput = { providers: [], aliases: [], prices: [] }
    for (const e of this.entries) {
      if (e.kind === 'provider') input.providers.push({ name: e.name, enabled: e.enabled, spec: e.spec as unknown as StoredProviderSpec })
      else if (e.kind === 'alias') input.aliases.push({ name: e.name, enabled: e.enabled, spec: e.spec as unknown as StoredAliasSpec })
      else input.prices.push({ name: e.name, enabled: e.enabled, spec: e.spec as unknown as StoredPriceSpec })
    }
    const merged = mergeManaged(file, input, this.open)
    for (const s of merged.statuses) {
      const before = this.status(s.kind, s.name)
      if (s.state === 'invalid' && JSON.stringify(before) !== JSON.stringify(s)) {
        this.logger.error({ kind: s.kind, name: s.name, problems: s.problems }, 'a provider, alias or price from the dashboard is not in force')
      }
    }
    this.statusList = merged.statuses
    return { config: merged.config, secrets: merged.secrets }
  }

  /**
   * Re-reads the entries and lets the server apply them. Refreshes run one after another: a poll
   * that read the list just before an edit must not apply its older list after the edit's.
   */
  refresh(): Promise<void> {
    const run = this.queue.then(async () => {
      await this.load()
      await this.onChange()
    })
    this.queue = run.catch(() => {})
    return run
  }

  start(pollMs: number): void {
    this.timer = setInterval(() => {
      void (async () => {
        if ((await this.store.version()) !== this.version) await this.refresh()
      })().catch((err) => this.logger.error({ err: (err as Error).message }, 'could not refresh the dashboard-managed config'))
    }, pollMs)
  }

  private queue: Promise<void> = Promise.resolve()

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
