import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, real, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/** Small named values the gateway keeps across restarts (the generated admin token's hash, ...). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
})

/** Keys the gateway hands out to its clients. Only a hash of the secret is stored. */
export const clientKeys = sqliteTable(
  'client_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    /** The first characters of the secret, shown so people can recognise their key. */
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    /** 'api' (admin API or CLI) or 'config' (auth.keys in the config file, kept in step with it). */
    source: text('source').notNull().default('api'),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(sql`0`),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    /** JSON array of model ids, aliases or patterns (`openai/*`); null allows every model. */
    allowedModels: text('allowed_models', { mode: 'json' }).$type<string[]>(),
    /** JSON array of IPs or CIDRs; null allows every address. */
    allowedIps: text('allowed_ips', { mode: 'json' }).$type<string[]>(),
    rpm: integer('rpm'),
    tpm: integer('tpm'),
    maxConcurrent: integer('max_concurrent'),
    /** 'day' or 'month': the period of the quotas and the budget; null means no quotas. */
    quotaPeriod: text('quota_period'),
    quotaTokens: integer('quota_tokens'),
    quotaRequests: integer('quota_requests'),
    budgetUsd: real('budget_usd'),
    /** When a period starts: HH:MM in quotaTimezone. */
    quotaResetTime: text('quota_reset_time').notNull().default('00:00'),
    quotaTimezone: text('quota_timezone').notNull().default('UTC'),
    metadata: text('metadata', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('client_keys_name_idx').on(t.name)],
)

/** What each client key used in each quota period, kept so quotas survive restarts. */
export const clientKeyUsage = sqliteTable(
  'client_key_usage',
  {
    keyId: text('key_id').notNull(),
    periodStart: integer('period_start', { mode: 'timestamp_ms' }).notNull(),
    requests: integer('requests').notNull().default(0),
    tokens: integer('tokens').notNull().default(0),
    costUsd: real('cost_usd').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.periodStart] })],
)

/** Upstream keys the gateway disabled (rejected by their provider); they stay off across restarts. */
export const disabledUpstreamKeys = sqliteTable(
  'disabled_upstream_keys',
  {
    provider: text('provider').notNull(),
    /** fingerprint() of the key: identifies it without storing it. */
    fingerprint: text('fingerprint').notNull(),
    reason: text('reason').notNull(),
    disabledAt: integer('disabled_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.fingerprint] })],
)

/** One row per request: who, what, where it went, how it ended, how long, how many tokens. */
export const requestLog = sqliteTable(
  'requests',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** Epoch ms when the request arrived. */
    ts: integer('ts').notNull(),
    requestId: text('request_id').notNull(),
    keyId: text('key_id'),
    keyName: text('key_name'),
    clientIp: text('client_ip'),
    method: text('method').notNull(),
    endpoint: text('endpoint').notNull(),
    model: text('model'),
    alias: text('alias'),
    provider: text('provider'),
    upstreamModel: text('upstream_model'),
    /** fingerprint() of the upstream key that answered; never the key. */
    upstreamKey: text('upstream_key'),
    status: integer('status').notNull(),
    errorType: text('error_type'),
    errorMessage: text('error_message'),
    attempts: integer('attempts'),
    stream: integer('stream', { mode: 'boolean' }).notNull().default(false),
    latencyMs: integer('latency_ms').notNull(),
    ttftMs: integer('ttft_ms'),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    cachedTokens: integer('cached_tokens'),
    reasoningTokens: integer('reasoning_tokens'),
    costUsd: real('cost_usd'),
    /** 'reported' by the upstream, 'estimated' by sluice, or 'missing'. */
    usageSource: text('usage_source').notNull(),
    deliveredEvents: integer('delivered_events'),
    requestBody: text('request_body'),
    responseBody: text('response_body'),
  },
  // Single-column indexes: SQLite appends the rowid to every index, so `WHERE key_id = ? ORDER
  // BY id DESC LIMIT 50` walks one index backwards and stops, however long the log is.
  (t) => [
    index('requests_ts_idx').on(t.ts),
    index('requests_key_idx').on(t.keyId),
    index('requests_model_idx').on(t.model),
    index('requests_status_idx').on(t.status),
  ],
)

/** Usage per UTC day, client key, model and provider; kept when raw rows are pruned. */
export const usageDaily = sqliteTable(
  'usage_daily',
  {
    day: text('day').notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    provider: text('provider').notNull(),
    requests: integer('requests').notNull().default(0),
    errors: integer('errors').notNull().default(0),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    cachedTokens: integer('cached_tokens').notNull().default(0),
    reasoningTokens: integer('reasoning_tokens').notNull().default(0),
    costUsd: real('cost_usd').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.keyId, t.model, t.provider] })],
)

/** Traffic per hour for the overview: counts, tokens, cost and a latency histogram. */
export const usageHourly = sqliteTable('usage_hourly', {
  /** Epoch ms of the hour's start. */
  hour: integer('hour').primaryKey(),
  requests: integer('requests').notNull().default(0),
  errors: integer('errors').notNull().default(0),
  rateLimited: integer('rate_limited').notNull().default(0),
  promptTokens: integer('prompt_tokens').notNull().default(0),
  completionTokens: integer('completion_tokens').notNull().default(0),
  costUsd: real('cost_usd').notNull().default(0),
  latencySumMs: integer('latency_sum_ms').notNull().default(0),
  /** Latency histogram counts, one column per bucket of LATENCY_BUCKETS_MS (last: above them). */
  l0: integer('l0').notNull().default(0),
  l1: integer('l1').notNull().default(0),
  l2: integer('l2').notNull().default(0),
  l3: integer('l3').notNull().default(0),
  l4: integer('l4').notNull().default(0),
  l5: integer('l5').notNull().default(0),
  l6: integer('l6').notNull().default(0),
  l7: integer('l7').notNull().default(0),
  l8: integer('l8').notNull().default(0),
  l9: integer('l9').notNull().default(0),
})

/** Upper bounds (ms) of the hourly latency buckets l0..l8; l9 counts everything above. */
export const LATENCY_BUCKETS_MS = [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000] as const

/**
 * Responses the gateway answered on behalf of providers that keep no state, so that a client can
 * continue one with `previous_response_id`, read it back or delete it. Readable only with the
 * client key that created it; gone after its expiry.
 */
export const storedResponses = sqliteTable(
  'stored_responses',
  {
    id: text('id').primaryKey(),
    clientKeyId: text('client_key_id').notNull(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    /** The conversation before the answer, as Responses input items (instructions are not carried over). */
    input: text('input').notNull(),
    /** The response object as the client received it. */
    response: text('response').notNull(),
  },
  (t) => [index('stored_responses_expires_idx').on(t.expiresAt)],
)

/**
 * Providers, aliases and prices added in the dashboard or admin API, merged with the config file's.
 * `spec` is the entry as the config file would hold it; a provider's keys are sealed (AES-GCM) inside
 * it, never stored in plaintext.
 */
export const managedEntries = sqliteTable(
  'managed_entries',
  {
    /** 'provider', 'alias' or 'price'. */
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    spec: text('spec', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.name] })],
)

/**
 * Accounts of `type: module` and `type: flow` providers: credential records (OAuth tokens, cookies)
 * that sluice refreshes and rotates. The credentials are sealed (AES-GCM), never stored in plaintext.
 */
export const accounts = sqliteTable(
  'accounts',
  {
    id: text('id').primaryKey(),
    provider: text('provider').notNull(),
    label: text('label'),
    /** The credentials as sealed JSON. */
    credentials: text('credentials').notNull(),
    /** When the current access token expires (from the credentials' expires_at), for refreshing ahead. */
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    /** Why it was disabled (a refresh the upstream refused for good). */
    disabledReason: text('disabled_reason'),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('accounts_provider_idx').on(t.provider)],
)

/** What adapters keep per account (conversation ids, short-lived tokens), each value with its expiry. */
export const adapterKv = sqliteTable(
  'adapter_kv',
  {
    provider: text('provider').notNull(),
    account: text('account').notNull(),
    key: text('key').notNull(),
    /** JSON text. */
    value: text('value').notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.account, t.key] }), index('adapter_kv_expires_idx').on(t.expiresAt)],
)

/**
 * The sluice processes sharing this database, each writing a heartbeat every few seconds: what the
 * dashboard's instances panel lists. A row not seen for an hour is deleted.
 */
export const instances = sqliteTable(
  'instances',
  {
    /** host:pid, as /health shows it. */
    id: text('id').primaryKey(),
    host: text('host').notNull(),
    version: text('version').notNull(),
    /** Its index among `server.workers`; null for a process of its own. */
    worker: integer('worker'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    lastSeen: integer('last_seen', { mode: 'timestamp_ms' }).notNull(),
    /** Set by a clean shutdown. */
    stoppedAt: integer('stopped_at', { mode: 'timestamp_ms' }),
    inflightRequests: integer('inflight_requests').notNull().default(0),
    inflightStreams: integer('inflight_streams').notNull().default(0),
    /** API requests finished in the minute before the heartbeat. */
    requestsPerMinute: integer('requests_per_minute').notNull().default(0),
  },
  (t) => [index('instances_last_seen_idx').on(t.lastSeen)],
)
