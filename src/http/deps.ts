import type { ConfigChanges } from '../config/diff.ts'
import type { Config } from '../config/schema.ts'
import type { ClientKey } from '../gateway/access/client-keys.ts'
import type { Gateway } from '../gateway/gateway.ts'
import type { ResponseStore } from '../gateway/ports.ts'
import type { RequestRecord, RequestTrace } from '../gateway/record.ts'
import type { Logger } from '../observability/logger.ts'
import type { Limits } from '../gateway/access/limits/limiter.ts'
import type { ClientKeyStore } from '../storage/client-key-store.ts'
import type { UsageQueries } from '../storage/usage-queries.ts'
import type { InstanceView } from '../storage/instance-store.ts'
import type { Sessions } from './sessions.ts'
import type { ManagedConfig } from '../server/managed-config.ts'
import type { AccountDirectory } from '../adapters/accounts.ts'
import type { AdapterModules } from '../adapters/modules.ts'

export type ReloadResult = { ok: true; changes: ConfigChanges } | { ok: false; problems: string[] }

export interface HealthReport {
  ok: boolean
  body: Record<string, unknown>
}

/** What the HTTP layer needs from the rest of the program; server.ts supplies it. */
export interface Deps {
  /** The config in force (the file's with the dashboard's entries); changes on reload and on edits. */
  config(): Config
  /** The config as the file (or the environment) alone gives it. */
  fileConfig(): Config
  /** Providers, aliases and prices kept in the database. */
  managed: ManagedConfig
  /** Stored accounts of module and flow providers. */
  accounts: AccountDirectory
  /** The loaded adapter modules (their login, refresh and quota probes). */
  modules: AdapterModules
  /** Where the server listens, once it does (a provider pointing there would loop). */
  listening(): { host: string; port: number } | null
  gateway: Gateway
  /** Responses the gateway keeps for clients (read back and deleted through the Responses API). */
  responses: ResponseStore
  keys: { find(presented: string | null): ClientKey | null; explain?(presented: string): { id: string; name: string; reason: string } | null }
  keyStore: ClientKeyStore
  limiter: Limits
  /** The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy. */
  clientIp(request: Request): string | null
  /** Re-reads the client keys from the database (after an admin change). */
  refreshKeys(): Promise<void>
  /** Notes that a key was used (its last-use time is written later, off the request path). */
  keyUsed(keyId: string): void
  /** Quota usage of a key in its current period, for the admin API (read from Redis when it holds the counters). */
  usageOf(key: ClientKey): Promise<{ period_start: string; requests: number; tokens: number; cost_usd: number } | null>
  logger: Logger
  now: () => number
  health(): Promise<HealthReport>
  /** Called once per request when it is over (for a stream: when the stream ends). */
  onRequestDone(record: RequestRecord, latencyMs: number, trace: RequestTrace): void
  /** Lifts the server's idle timeout for a request whose upstream may be slow; our timers rule. */
  keepOpen(request: Request): void
  /** Puts the server's idle timeout back once a kept-open request is over (a stalled client's socket closes). */
  releaseOpen(request: Request): void
  /** SHA-256 of the admin token. */
  adminTokenHash(): string
  /** Re-reads the config file and puts it in force if it is valid. */
  reload(): Promise<ReloadResult>
  usage: UsageQueries
  /** The live tail: this instance's rows, and with Redis the other instances' summaries too. */
  live: { subscribe(listener: (row: unknown) => void): () => void }
  /** The instances sharing the database (their heartbeats); `self` is this one's id. */
  instances?: { self: string; list(): Promise<InstanceView[]> }
  metricsText(): string
  uptimeSeconds(): number
  sessions: Sessions
}
