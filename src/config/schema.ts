import { Type as T, type Static, type TSchema } from '@sinclair/typebox'
import { providerTypes } from '../providers/registry.ts'

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const strict = { additionalProperties: false } as const
const Millis = T.Integer({ minimum: 1 })
const Name = T.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'letters, digits, _ . -' })

const Timeouts = T.Object(
  {
    connect_ms: T.Optional(Millis),
    first_byte_ms: T.Optional(Millis),
    stream_idle_ms: T.Optional(Millis),
    total_ms: T.Optional(Millis),
  },
  strict,
)

export const PROVIDER_APIS = ['auto', 'chat', 'responses', 'both'] as const
export type ProviderApi = (typeof PROVIDER_APIS)[number]

export const ProviderSchema = T.Object(
  {
    name: Name,
    type: T.Union(providerTypes.map((type) => T.Literal(type))),
    base_url: T.Optional(T.String({ minLength: 1 })),
    /** Upstream keys: each a string, or `{ key, label }` to tell it apart in the dashboard and logs. */
    keys: T.Array(T.Union([T.String(), T.Object({ key: T.String(), label: T.Optional(T.String({ maxLength: 80 })) }, strict)])),
    /** Exact ids, or /regular expressions/ that filter the discovered list. */
    models: T.Optional(T.Array(T.String({ minLength: 1 }))),
    headers: T.Optional(T.Record(T.String(), T.String())),
    timeouts: T.Optional(Timeouts),
    /** Outbound HTTP proxy for this provider's requests. */
    proxy: T.Optional(T.String({ minLength: 1 })),
    sticky: T.Optional(T.Boolean()),
    fake_stream: T.Optional(T.Boolean()),
    stream_only: T.Optional(T.Boolean()),
    /** Requests at once per key or account (a web account that serves one conversation at a time). */
    max_concurrent_per_key: T.Optional(T.Integer({ minimum: 1 })),
    /** Where several providers serve a model: a higher priority is tried first (default 0). */
    priority: T.Optional(T.Integer({ minimum: -1000, maximum: 1000 })),
    /** Among providers of one priority serving a model: their share of first tries (default: the order of the file). */
    weight: T.Optional(T.Number({ exclusiveMinimum: 0 })),
    /** For OpenAI clients on an Anthropic provider: max_tokens when the client sent none. */
    default_max_tokens: T.Optional(T.Integer({ minimum: 1 })),
    /** Which OpenAI APIs a `type: openai` provider serves: chat completions, Responses, or both. */
    api: T.Optional(T.Union(PROVIDER_APIS.map((a) => T.Literal(a)))),
    /** Models (exact ids or /regular expressions/) of this provider that only serve the Responses API. */
    responses_only_models: T.Optional(T.Array(T.String({ minLength: 1 }))),
    /** `type: module`: the adapter file (TypeScript or JavaScript), relative to this config file. */
    path: T.Optional(T.String({ minLength: 1 })),
    /** `type: module`: settings for the adapter, checked against the schema it exports. */
    options: T.Optional(T.Record(T.String(), T.Unknown())),
    /** `type: module`: let the adapter's fetch reach private and loopback addresses (a self-hosted upstream). */
    allow_private: T.Optional(T.Boolean()),
    /** `type: flow`: the steps, templates and answer paths (checked in full when the provider is built). */
    flow: T.Optional(T.Record(T.String(), T.Unknown())),
  },
  strict,
)

/** While Redis cannot be reached: count limits per instance (`local`), or refuse limited requests with a 503 (`reject`). */
export const REDIS_FAILURE_POLICIES = ['local', 'reject'] as const
export type RedisFailurePolicy = (typeof REDIS_FAILURE_POLICIES)[number]

export const STRATEGIES = ['fallback', 'round-robin', 'weighted', 'least-latency'] as const
export type Strategy = (typeof STRATEGIES)[number]

export const AliasSchema = T.Object(
  {
    name: T.String({ minLength: 1 }),
    targets: T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
    strategy: T.Optional(T.Union(STRATEGIES.map((s) => T.Literal(s)))),
    weights: T.Optional(T.Array(T.Number({ exclusiveMinimum: 0 }))),
    sticky: T.Optional(T.Boolean()),
    fake_stream: T.Optional(T.Boolean()),
  },
  strict,
)

const nullable = <S extends TSchema>(schema: S) => T.Optional(T.Union([schema, T.Null()]))

export const QuotaInput = T.Object(
  {
    period: T.Union([T.Literal('day'), T.Literal('month')]),
    tokens: nullable(T.Integer({ minimum: 1 })),
    requests: nullable(T.Integer({ minimum: 1 })),
    budget_usd: nullable(T.Number({ exclusiveMinimum: 0 })),
    reset_time: T.Optional(T.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'a time of day as HH:MM' })),
    timezone: T.Optional(T.String({ minLength: 1 })),
  },
  strict,
)

/** What a client key may do; the same fields in the config file and in the admin API. */
export const KeyPolicyFields = {
  /** A date (the key works through that day, UTC) or a date-time. */
  expires_at: nullable(T.String({ minLength: 1 })),
  models: nullable(T.Array(T.String({ minLength: 1 }))),
  ips: nullable(T.Array(T.String({ minLength: 1 }))),
  rpm: nullable(T.Integer({ minimum: 1 })),
  tpm: nullable(T.Integer({ minimum: 1 })),
  max_concurrent: nullable(T.Integer({ minimum: 1 })),
  quota: nullable(QuotaInput),
  metadata: nullable(T.Record(T.String(), T.Unknown())),
}

const StaticClientKey = T.Union([
  T.String({ minLength: 1 }),
  T.Object({ name: Name, key: T.String({ minLength: 1 }), ...KeyPolicyFields }, strict),
])

export const PriceSchema = T.Object(
  {
    prompt: T.Number({ minimum: 0 }),
    completion: T.Number({ minimum: 0 }),
    cached_prompt: T.Optional(T.Number({ minimum: 0 })),
  },
  strict,
)

/** The config file as a user writes it: every section optional. */
export const ConfigFile = T.Object(
  {
    server: T.Optional(
      T.Object(
        {
          host: T.Optional(T.String({ minLength: 1 })),
          port: T.Optional(T.Integer({ minimum: 0, maximum: 65535 })),
          max_body_bytes: T.Optional(T.Integer({ minimum: 1024 })),
          /** A request body must arrive within this long, or the request ends with 408. */
          body_timeout_ms: T.Optional(Millis),
          shutdown_grace_ms: T.Optional(T.Integer({ minimum: 0 })),
          /** Peers whose X-Forwarded-For is believed (reverse proxies in front of sluice). */
          trusted_proxies: T.Optional(T.Array(T.String({ minLength: 1 }))),
          /** Processes sharing the port (each connection goes to one); limits hold across them. */
          workers: T.Optional(T.Integer({ minimum: 1, maximum: 64 })),
        },
        strict,
      ),
    ),
    admin: T.Optional(T.Object({ token: T.Optional(T.String()), docs: T.Optional(T.Boolean()) }, strict)),
    limits: T.Optional(T.Object({ ip_rpm: T.Optional(T.Integer({ minimum: 1 })) }, strict)),
    /** Bounds on what an upstream may send back; past them the answer is an upstream failure. */
    upstream: T.Optional(
      T.Object(
        {
          max_body_bytes: T.Optional(T.Integer({ minimum: 1024 })),
          max_event_bytes: T.Optional(T.Integer({ minimum: 1024 })),
          max_error_bytes: T.Optional(T.Integer({ minimum: 256 })),
          /** Reported token counts above this (per field, per request) are clamped and logged. */
          max_reported_tokens: T.Optional(T.Integer({ minimum: 1 })),
        },
        strict,
      ),
    ),
    logging: T.Optional(
      T.Object(
        {
          /** Which request and response bodies the request log keeps (scrubbed, size-capped). */
          bodies: T.Optional(T.Union([T.Literal('none'), T.Literal('errors'), T.Literal('all')])),
          sample_rate: T.Optional(T.Number({ minimum: 0, maximum: 1 })),
          max_body_bytes: T.Optional(T.Integer({ minimum: 256 })),
          retention_days: T.Optional(T.Integer({ minimum: 1 })),
          queue_size: T.Optional(T.Integer({ minimum: 100 })),
        },
        strict,
      ),
    ),
    metrics: T.Optional(T.Object({ public: T.Optional(T.Boolean()) }, strict)),
    /** USD per million tokens, by `provider/model` or model name. */
    prices: T.Optional(T.Record(T.String({ minLength: 1 }), PriceSchema)),
    database: T.Optional(
      T.Object(
        {
          url: T.Optional(T.String({ minLength: 1 })),
          /** A libSQL server's token, or the PostgreSQL password when the URL has none. */
          auth_token: T.Optional(T.String()),
          /** PostgreSQL: connections per process. */
          pool_size: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
          /** PostgreSQL without redis: start anyway, each instance counting limits on its own. */
          allow_unshared_limits: T.Optional(T.Boolean()),
        },
        strict,
      ),
    ),
    /**
     * The key that seals upstream keys added in the dashboard (and account credentials) in the
     * database. SLUICE_SECRET_KEY wins; without either, a key file is made next to an embedded database.
     */
    secrets: T.Optional(T.Object({ key_file: T.Optional(T.String({ minLength: 1 })) }, strict)),
    log: T.Optional(T.Object({ level: T.Optional(T.Union(LOG_LEVELS.map((l) => T.Literal(l)))) }, strict)),
    auth: T.Optional(
      T.Object({ required: T.Optional(T.Boolean()), keys: T.Optional(T.Array(StaticClientKey)) }, strict),
    ),
    timeouts: T.Optional(Timeouts),
    retry: T.Optional(
      T.Object(
        {
          max_attempts: T.Optional(T.Integer({ minimum: 1, maximum: 20 })),
          initial_delay_ms: T.Optional(T.Integer({ minimum: 0 })),
          max_delay_ms: T.Optional(T.Integer({ minimum: 0 })),
        },
        strict,
      ),
    ),
    routing: T.Optional(
      T.Object(
        {
          heartbeat_ms: T.Optional(T.Integer({ minimum: 100 })),
          sticky_ttl_ms: T.Optional(T.Integer({ minimum: 1000 })),
        },
        strict,
      ),
    ),
    /** Responses API state the gateway keeps for providers that keep none. */
    responses: T.Optional(
      T.Object(
        {
          /** How long a stored response can be continued or read back. */
          store_ttl_hours: T.Optional(T.Integer({ minimum: 1 })),
          /** A conversation larger than this (input and answer, as JSON) is not stored. */
          max_stored_bytes: T.Optional(T.Integer({ minimum: 1024 })),
        },
        strict,
      ),
    ),
    /** Limits and upstream key state shared by several instances; without it each instance counts alone. */
    redis: T.Optional(
      T.Object(
        {
          url: T.String({ minLength: 1 }),
          timeout_ms: T.Optional(Millis),
          on_failure: T.Optional(T.Union(REDIS_FAILURE_POLICIES.map((p) => T.Literal(p)))),
        },
        strict,
      ),
    ),
    circuit_breaker: T.Optional(
      T.Object(
        {
          failure_threshold: T.Optional(T.Integer({ minimum: 1 })),
          open_ms: T.Optional(T.Integer({ minimum: 100 })),
        },
        strict,
      ),
    ),
    providers: T.Optional(T.Array(ProviderSchema)),
    aliases: T.Optional(T.Array(AliasSchema)),
  },
  strict,
)
export type ConfigFile = Static<typeof ConfigFile>

export interface TimeoutsConfig {
  connect_ms: number
  first_byte_ms: number
  stream_idle_ms: number
  total_ms: number
}

export interface ProviderConfig {
  name: string
  type: string
  base_url: string
  keys: readonly string[]
  /** A label per key (same order as `keys`), null where none was given. */
  key_labels: readonly (string | null)[]
  /** Explicit model list; undefined means discovered from the upstream. */
  models?: readonly string[]
  /** Regular expressions (sources) that filter the discovered list, with `models` added. */
  model_filters: readonly string[] | null
  headers: Readonly<Record<string, string>>
  timeouts: TimeoutsConfig
  proxy: string | null
  sticky: boolean
  fake_stream: boolean
  stream_only: boolean
  default_max_tokens: number
  /** The OpenAI APIs it serves (`auto` resolved from the base URL). */
  api: Exclude<ProviderApi, 'auto'>
  /** Regular expressions (sources) of models that only serve the Responses API. */
  responses_only_models: readonly string[]
  /** Requests at once per key; null: no cap. */
  max_concurrent_per_key: number | null
  /** Higher is tried first where several providers serve a model. */
  priority: number
  /** Share of first tries among providers of the same priority; null keeps the order of the file. */
  weight: number | null
  /** For `type: module`: the adapter file (absolute), its options and whether it may reach private addresses. */
  module: { path: string; options: Readonly<Record<string, unknown>>; allow_private: boolean } | null
}

export interface AliasConfig {
  name: string
  /** For an alias named `claude-*` or `/regex/`: the regular expression (source) of the ids it covers. */
  pattern: string | null
  targets: readonly string[]
  strategy: Strategy
  weights: readonly number[] | null
  sticky: boolean
  fake_stream: boolean
}

/** What an upstream answer may be at most. */
export interface UpstreamLimits {
  /** A whole non-stream body, counted after decompression. */
  max_body_bytes: number
  /** One server-sent event of a stream. */
  max_event_bytes: number
  /** An error body; the rest is discarded unread. */
  max_error_bytes: number
  max_reported_tokens: number
}

export interface RetryConfig {
  max_attempts: number
  initial_delay_ms: number
  max_delay_ms: number
}

export interface QuotaPolicy {
  period: 'day' | 'month'
  tokens: number | null
  requests: number | null
  budgetUsd: number | null
  /** HH:MM in `timezone`, when a period begins. */
  resetTime: string
  timezone: string
}

/** What a client key may do: which models, from where, how fast, how much. */
export interface KeyPolicy {
  models: readonly string[] | null
  ips: readonly string[] | null
  rpm: number | null
  tpm: number | null
  maxConcurrent: number | null
  quota: QuotaPolicy | null
}

export interface StaticKeyConfig {
  name: string
  key: string
  expiresAt: number | null
  policy: KeyPolicy
  metadata: Record<string, unknown> | null
}

export interface RedisConfig {
  /** `redis://` or `rediss://` (TLS), with the password if there is one: never logged. */
  url: string
  /** The deadline of every Redis call; past it, the failure policy decides. */
  timeout_ms: number
  on_failure: RedisFailurePolicy
}

export interface PriceConfig {
  prompt: number
  completion: number
  cached_prompt?: number
}

/** The resolved configuration: defaults, file, environment and flags merged, validated, frozen. */
export interface Config {
  /** Where the file came from, if there was one. */
  source: string | null
  server: {
    host: string
    port: number
    max_body_bytes: number
    body_timeout_ms: number
    shutdown_grace_ms: number
    trusted_proxies: readonly string[]
    workers: number
  }
  admin: { token: string | null; docs: boolean }
  limits: { ip_rpm: number | null }
  upstream: UpstreamLimits
  logging: { bodies: 'none' | 'errors' | 'all'; sample_rate: number; max_body_bytes: number; retention_days: number; queue_size: number }
  metrics: { public: boolean }
  prices: Readonly<Record<string, PriceConfig>>
  /**
   * `url` never holds a PostgreSQL password (it is shown and logged): that is `auth_token`, the
   * server's credential, as for a libSQL server.
   */
  database: { url: string; auth_token: string | null; pool_size: number; allow_unshared_limits: boolean }
  /** Where the sealing key is read from (absolute), when the file names one. */
  secrets: { key_file: string | null }
  log: { level: LogLevel }
  auth: { required: boolean; keys: readonly StaticKeyConfig[] }
  timeouts: TimeoutsConfig
  retry: RetryConfig
  routing: { heartbeat_ms: number; sticky_ttl_ms: number }
  responses: { store_ttl_hours: number; max_stored_bytes: number }
  circuit_breaker: { failure_threshold: number; open_ms: number }
  /** Shared state for several instances; null: this instance keeps it alone. */
  redis: RedisConfig | null
  providers: readonly ProviderConfig[]
  aliases: readonly AliasConfig[]
}

export const DEFAULT_TIMEOUTS: TimeoutsConfig = {
  connect_ms: 10_000,
  // A non-streamed answer arrives in one piece, so its first byte can take minutes.
  first_byte_ms: 600_000,
  stream_idle_ms: 120_000,
  total_ms: 1_800_000,
}
