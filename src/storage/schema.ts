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
