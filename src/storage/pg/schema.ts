import { sql } from 'drizzle-orm'
import { bigint, boolean, customType, doublePrecision, index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'

// The PostgreSQL mirror of ../schema.ts: the same tables, columns and TypeScript row types, so the
// stores map rows once for both engines (a test compares the inferred types). Differences, each on
// purpose: instants the SQLite schema keeps as epoch-ms integers in `timestamp_ms` mode are
// `timestamptz` here (readable in psql, still a Date in code); counters and token sums are `bigint`
// (int4 ends at 2^31); money is `double precision` (`real` is four bytes here); JSON is `jsonb`.

/** An instant, read and written as a Date (milliseconds kept). */
const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' })
/** A count or sum that may pass 2^31. */
const count = (name: string) => bigint(name, { mode: 'number' })
/**
 * JSON, handed to Bun's client as the value itself: it encodes a `jsonb` parameter as JSON, so the
 * text drizzle's own `jsonb` makes would be stored as one JSON string instead of the object.
 */
const jsonb = <T>(name: string) =>
  customType<{ data: T; driverData: T }>({ dataType: () => 'jsonb', toDriver: (v) => v, fromDriver: (v) => v })(name)

export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: instant('updated_at').notNull(),
})

export const clientKeys = pgTable(
  'client_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    source: text('source').notNull().default('api'),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: instant('created_at').notNull(),
    updatedAt: instant('updated_at').notNull().default(sql`to_timestamp(0)`),
    expiresAt: instant('expires_at'),
    revokedAt: instant('revoked_at'),
    lastUsedAt: instant('last_used_at'),
    allowedModels: jsonb<string[]>('allowed_models'),
    allowedIps: jsonb<string[]>('allowed_ips'),
    rpm: integer('rpm'),
    tpm: count('tpm'),
    maxConcurrent: integer('max_concurrent'),
    quotaPeriod: text('quota_period'),
    quotaTokens: count('quota_tokens'),
    quotaRequests: count('quota_requests'),
    budgetUsd: doublePrecision('budget_usd'),
    quotaResetTime: text('quota_reset_time').notNull().default('00:00'),
    quotaTimezone: text('quota_timezone').notNull().default('UTC'),
    metadata: jsonb<Record<string, unknown>>('metadata'),
  },
  (t) => [index('client_keys_name_idx').on(t.name)],
)

export const clientKeyUsage = pgTable(
  'client_key_usage',
  {
    keyId: text('key_id').notNull(),
    periodStart: instant('period_start').notNull(),
    requests: count('requests').notNull().default(0),
    tokens: count('tokens').notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.periodStart] })],
)

export const disabledUpstreamKeys = pgTable(
  'disabled_upstream_keys',
  {
    provider: text('provider').notNull(),
    fingerprint: text('fingerprint').notNull(),
    reason: text('reason').notNull(),
    disabledAt: instant('disabled_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.fingerprint] })],
)

export const requestLog = pgTable(
  'requests',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    /** Epoch ms when the request arrived (a number, as in SQLite: the dashboard buckets it by arithmetic). */
    ts: bigint('ts', { mode: 'number' }).notNull(),
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
    upstreamKey: text('upstream_key'),
    status: integer('status').notNull(),
    errorType: text('error_type'),
    errorMessage: text('error_message'),
    attempts: integer('attempts'),
    stream: boolean('stream').notNull().default(false),
    latencyMs: integer('latency_ms').notNull(),
    ttftMs: integer('ttft_ms'),
    promptTokens: count('prompt_tokens'),
    completionTokens: count('completion_tokens'),
    cachedTokens: count('cached_tokens'),
    reasoningTokens: count('reasoning_tokens'),
    costUsd: doublePrecision('cost_usd'),
    usageSource: text('usage_source').notNull(),
    deliveredEvents: integer('delivered_events'),
    requestBody: text('request_body'),
    responseBody: text('response_body'),
  },
  // A PostgreSQL index holds no row id to walk in order, so the filtered lists (newest first by id)
  // get (column, id) indexes; the time index serves the windows and the pruning.
  (t) => [
    index('requests_ts_idx').on(t.ts),
    index('requests_key_idx').on(t.keyId, t.id),
    index('requests_model_idx').on(t.model, t.id),
    index('requests_status_idx').on(t.status, t.id),
  ],
)

export const usageDaily = pgTable(
  'usage_daily',
  {
    day: text('day').notNull(),
    keyId: text('key_id').notNull(),
    model: text('model').notNull(),
    provider: text('provider').notNull(),
    requests: count('requests').notNull().default(0),
    errors: count('errors').notNull().default(0),
    promptTokens: count('prompt_tokens').notNull().default(0),
    completionTokens: count('completion_tokens').notNull().default(0),
    cachedTokens: count('cached_tokens').notNull().default(0),
    reasoningTokens: count('reasoning_tokens').notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.keyId, t.model, t.provider] })],
)

export const usageHourly = pgTable('usage_hourly', {
  hour: bigint('hour', { mode: 'number' }).primaryKey(),
  requests: count('requests').notNull().default(0),
  errors: count('errors').notNull().default(0),
  rateLimited: count('rate_limited').notNull().default(0),
  promptTokens: count('prompt_tokens').notNull().default(0),
  completionTokens: count('completion_tokens').notNull().default(0),
  costUsd: doublePrecision('cost_usd').notNull().default(0),
  latencySumMs: count('latency_sum_ms').notNull().default(0),
  l0: count('l0').notNull().default(0),
  l1: count('l1').notNull().default(0),
  l2: count('l2').notNull().default(0),
  l3: count('l3').notNull().default(0),
  l4: count('l4').notNull().default(0),
  l5: count('l5').notNull().default(0),
  l6: count('l6').notNull().default(0),
  l7: count('l7').notNull().default(0),
  l8: count('l8').notNull().default(0),
  l9: count('l9').notNull().default(0),
})

export const storedResponses = pgTable(
  'stored_responses',
  {
    id: text('id').primaryKey(),
    clientKeyId: text('client_key_id').notNull(),
    createdAt: instant('created_at').notNull(),
    expiresAt: instant('expires_at').notNull(),
    input: text('input').notNull(),
    response: text('response').notNull(),
  },
  (t) => [index('stored_responses_expires_idx').on(t.expiresAt)],
)

export const managedEntries = pgTable(
  'managed_entries',
  {
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    spec: jsonb<Record<string, unknown>>('spec').notNull(),
    createdAt: instant('created_at').notNull(),
    updatedAt: instant('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.name] })],
)

export const accounts = pgTable(
  'accounts',
  {
    id: text('id').primaryKey(),
    provider: text('provider').notNull(),
    label: text('label'),
    credentials: text('credentials').notNull(),
    expiresAt: instant('expires_at'),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    createdAt: instant('created_at').notNull(),
    updatedAt: instant('updated_at').notNull(),
  },
  (t) => [index('accounts_provider_idx').on(t.provider)],
)

export const adapterKv = pgTable(
  'adapter_kv',
  {
    provider: text('provider').notNull(),
    account: text('account').notNull(),
    key: text('key').notNull(),
    value: text('value').notNull(),
    expiresAt: instant('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.account, t.key] }), index('adapter_kv_expires_idx').on(t.expiresAt)],
)

export const instances = pgTable(
  'instances',
  {
    id: text('id').primaryKey(),
    host: text('host').notNull(),
    version: text('version').notNull(),
    worker: integer('worker'),
    startedAt: instant('started_at').notNull(),
    lastSeen: instant('last_seen').notNull(),
    stoppedAt: instant('stopped_at'),
    inflightRequests: integer('inflight_requests').notNull().default(0),
    inflightStreams: integer('inflight_streams').notNull().default(0),
    requestsPerMinute: integer('requests_per_minute').notNull().default(0),
  },
  (t) => [index('instances_last_seen_idx').on(t.lastSeen)],
)
