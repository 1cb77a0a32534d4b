import type { Origin } from './sources.ts'

/** One line of the report: what was not imported and why, or what a reader must know about what was. */
export interface Finding {
  at: Origin | { file: string; line?: undefined }
  text: string
  /** False: the line was not imported. */
  imported: boolean
}

export interface Sourced<T> {
  value: T
  at: Origin
  /** A comment for the config next to the value. */
  note?: string
}

export interface ProviderDraft {
  name: string
  at: Origin
  /** What the provider was made of, for the comment above it. */
  from: string
  /** Null: not known; the config gets a placeholder the user fills. */
  baseUrl: Sourced<string> | null
  keys: Sourced<string>[]
  /** Exact model ids. */
  models: Sourced<string>[]
  /** Regular expressions (JavaScript sources) that filter the discovered models. */
  filters: Sourced<string>[]
  proxy: Sourced<string> | null
  fakeStream: Sourced<boolean> | null
  comments: string[]
}

export interface ClientKeyDraft {
  name: string
  key: string
  at: Origin
  /** The line's own label (`API_KEY_1`, a token's description), for the comment. */
  label: string
  expiresAt?: Sourced<string>
  rpm?: Sourced<number>
  metadata?: Record<string, string>
}

/** Settings outside providers and keys, by their path in the sluice config. */
export type SettingPath =
  | 'server.host' | 'server.port' | 'server.shutdown_grace_ms'
  | 'admin.token' | 'log.level' | 'auth.required' | 'limits.ip_rpm' | 'upstream.max_body_bytes'
  | 'timeouts.connect_ms' | 'timeouts.total_ms'
  | 'retry.max_attempts' | 'retry.initial_delay_ms' | 'retry.max_delay_ms'

export interface Draft {
  sources: string[]
  settings: Map<SettingPath, Sourced<string | number | boolean>>
  clientKeys: ClientKeyDraft[]
  providers: ProviderDraft[]
  findings: Finding[]
}
