import type { ConfigChanges } from '../config/diff.ts'
import type { Config } from '../config/schema.ts'
import type { ClientKey } from '../gateway/client-keys.ts'
import type { Gateway } from '../gateway/gateway.ts'
import type { RequestRecord } from '../gateway/record.ts'
import type { Logger } from '../observability/logger.ts'

export type ReloadResult = { ok: true; changes: ConfigChanges } | { ok: false; problems: string[] }

export interface HealthReport {
  ok: boolean
  body: Record<string, unknown>
}

/** What the HTTP layer needs from the rest of the program; server.ts supplies it. */
export interface Deps {
  /** The config in force; changes on reload. */
  config(): Config
  gateway: Gateway
  keys: { find(presented: string | null): ClientKey | null }
  logger: Logger
  now: () => number
  health(): Promise<HealthReport>
  /** Called once per request when it is over (for a stream: when the stream ends). */
  onRequestDone(record: RequestRecord, latencyMs: number): void
  /** Lifts the server's idle timeout for a request whose upstream may be slow; our timers rule. */
  keepOpen(request: Request): void
  /** SHA-256 of the admin token. */
  adminTokenHash(): string
  /** Re-reads the config file and puts it in force if it is valid. */
  reload(): Promise<ReloadResult>
}
