import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core'

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
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('client_keys_name_idx').on(t.name)],
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
