import type { KeyDirectory } from '../gateway/access/client-keys.ts'
import type { Logger } from '../observability/logger.ts'
import type { ClientKeyStore } from '../storage/client-key-store.ts'

/**
 * Keeps the in-memory key directory in step with the database: config keys are kept there like
 * the others, and a version number polled a few times a second shows changes made by the admin API,
 * the CLI or another process, so they are in force within that interval.
 */
export class ClientKeySync {
  private version = -1
  private timer: ReturnType<typeof setInterval> | null = null

  constructor(
    private readonly store: ClientKeyStore,
    private readonly directory: KeyDirectory,
    private readonly logger: Logger,
  ) {}

  /** Reads every key again. */
  async refresh(): Promise<void> {
    this.version = await this.store.version()
    this.directory.replace(await this.store.list())
  }

  start(pollMs: number): void {
    this.timer = setInterval(() => {
      void (async () => {
        if ((await this.store.version()) !== this.version) await this.refresh()
      })().catch((err) => this.logger.error({ err: (err as Error).message }, 'could not refresh client keys'))
    }, pollMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
