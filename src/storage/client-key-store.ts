import { count, eq, sql } from 'drizzle-orm'
import type { KeyPolicy, StaticKeyConfig } from '../config/schema.ts'
import { randomToken, sha256Hex } from '../lib/crypto.ts'
import type { Client } from '@libsql/client'
import type { Db } from './database.ts'
import { clientKeys, settings } from './schema.ts'

export const CLIENT_KEY_PREFIX = 'sk-sluice-'
const VERSION_SETTING = 'client_keys_version'

export interface StoredClientKey {
  id: string
  name: string
  prefix: string
  keyHash: string
  source: 'api' | 'config'
  enabled: boolean
  createdAt: number
  updatedAt: number
  expiresAt: number | null
  revokedAt: number | null
  lastUsedAt: number | null
  policy: KeyPolicy
  metadata: Record<string, unknown> | null
}

export interface NewClientKey {
  record: StoredClientKey
  /** The secret, available only now: the database keeps its hash. */
  secret: string
}

export interface KeyChanges {
  name?: string
  enabled?: boolean
  expiresAt?: number | null
  policy?: KeyPolicy
  metadata?: Record<string, unknown> | null
}

type Row = typeof clientKeys.$inferSelect

function fromRow(r: Row): StoredClientKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    keyHash: r.keyHash,
    source: r.source === 'config' ? 'config' : 'api',
    enabled: r.enabled,
    createdAt: r.createdAt.getTime(),
    updatedAt: r.updatedAt.getTime(),
    expiresAt: r.expiresAt?.getTime() ?? null,
    revokedAt: r.revokedAt?.getTime() ?? null,
    lastUsedAt: r.lastUsedAt?.getTime() ?? null,
    metadata: r.metadata ?? null,
    policy: {
      models: r.allowedModels ?? null,
      ips: r.allowedIps ?? null,
      rpm: r.rpm,
      tpm: r.tpm,
      maxConcurrent: r.maxConcurrent,
      quota: r.quotaPeriod
        ? {
            period: r.quotaPeriod === 'month' ? 'month' : 'day',
            tokens: r.quotaTokens,
            requests: r.quotaRequests,
            budgetUsd: r.budgetUsd,
            resetTime: r.quotaResetTime,
            timezone: r.quotaTimezone,
          }
        : null,
    },
  }
}

function policyColumns(p: KeyPolicy) {
  return {
    allowedModels: p.models ? [...p.models] : null,
    allowedIps: p.ips ? [...p.ips] : null,
    rpm: p.rpm,
    tpm: p.tpm,
    maxConcurrent: p.maxConcurrent,
    quotaPeriod: p.quota?.period ?? null,
    quotaTokens: p.quota?.tokens ?? null,
    quotaRequests: p.quota?.requests ?? null,
    budgetUsd: p.quota?.budgetUsd ?? null,
    quotaResetTime: p.quota?.resetTime ?? '00:00',
    quotaTimezone: p.quota?.timezone ?? 'UTC',
  }
}

/**
 * Client keys in the database, stored as hashes. Every change bumps a version number in the same
 * batch, which running servers poll to pick up edits made by the admin API or the CLI.
 */
/** A key brought in whose secret is already stored (under any name). */
export class DuplicateKeyError extends Error {
  constructor() {
    super('A client key with this secret already exists.')
  }
}

/** Keys brought from elsewhere must be long enough not to be guessed. */
export const MIN_IMPORTED_KEY_CHARS = 20

export function createClientKeyStore(db: Db, client: Client, background: Db = db) {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({
        target: settings.key,
        set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() },
      })

  return {
    async list(): Promise<StoredClientKey[]> {
      return (await db.select().from(clientKeys)).map(fromRow)
    },

    async findByHash(keyHash: string): Promise<StoredClientKey | null> {
      const rows = await db.select().from(clientKeys).where(eq(clientKeys.keyHash, keyHash)).limit(1)
      return rows[0] ? fromRow(rows[0]) : null
    },

    async get(id: string): Promise<StoredClientKey | null> {
      const [row] = await db.select().from(clientKeys).where(eq(clientKeys.id, id))
      return row ? fromRow(row) : null
    },

    /** By id, or by name when exactly one live key has it. */
    async resolve(idOrName: string): Promise<StoredClientKey | null | 'ambiguous'> {
      const byId = await this.get(idOrName)
      if (byId) return byId
      const rows = (await db.select().from(clientKeys).where(eq(clientKeys.name, idOrName))).map(fromRow).filter((k) => k.revokedAt === null)
      return rows.length === 1 ? rows[0]! : rows.length > 1 ? 'ambiguous' : null
    },

    async count(): Promise<number> {
      const [row] = await db.select({ n: count() }).from(clientKeys)
      return row?.n ?? 0
    },

    /** Polled several times a second: one plain query, no query building. */
    async version(): Promise<number> {
      const rs = await client.execute({ sql: 'SELECT value FROM settings WHERE key = ?', args: [VERSION_SETTING] })
      return rs.rows[0] ? Number(rs.rows[0][0]) : 0
    },

    async create(
      input: { name: string; expiresAt?: number | null; policy: KeyPolicy; metadata?: Record<string, unknown> | null; secret?: string },
      now = Date.now(),
    ): Promise<NewClientKey> {
      // A key brought from elsewhere (an earlier gateway's) is kept as it is, hashed like any other.
      const secret = input.secret ?? CLIENT_KEY_PREFIX + randomToken(40)
      if (input.secret !== undefined && (await this.findByHash(sha256Hex(secret)))) throw new DuplicateKeyError()
      const id = 'key_' + randomToken(16)
      await db.batch([
        db.insert(clientKeys).values({
          id,
          name: input.name,
          prefix: secret.slice(0, Math.min(CLIENT_KEY_PREFIX.length + 4, Math.floor(secret.length / 3))),
          keyHash: sha256Hex(secret),
          source: 'api',
          enabled: true,
          createdAt: new Date(now),
          updatedAt: new Date(now),
          expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
          metadata: input.metadata ?? null,
          ...policyColumns(input.policy),
        }),
        bump(),
      ])
      return { record: (await this.get(id))!, secret }
    },

    async update(id: string, changes: KeyChanges, now = Date.now()): Promise<StoredClientKey | null> {
      const set: Partial<typeof clientKeys.$inferInsert> = { updatedAt: new Date(now) }
      if (changes.name !== undefined) set.name = changes.name
      if (changes.enabled !== undefined) set.enabled = changes.enabled
      if (changes.expiresAt !== undefined) set.expiresAt = changes.expiresAt === null ? null : new Date(changes.expiresAt)
      if (changes.metadata !== undefined) set.metadata = changes.metadata
      if (changes.policy) Object.assign(set, policyColumns(changes.policy))
      await db.batch([db.update(clientKeys).set(set).where(eq(clientKeys.id, id)), bump()])
      return this.get(id)
    },

    async revoke(id: string, now = Date.now()): Promise<boolean> {
      const key = await this.get(id)
      if (!key) return false
      if (key.revokedAt === null) {
        await db.batch([
          db.update(clientKeys).set({ revokedAt: new Date(now), updatedAt: new Date(now) }).where(eq(clientKeys.id, id)),
          bump(),
        ])
      }
      return true
    },

    /**
     * Keeps the database in step with `auth.keys` in the config: each is stored (hashed) under a
     * stable id, so it is listed, limited and counted like any other key; one that left the
     * config is revoked.
     */
    async syncConfigKeys(keys: readonly StaticKeyConfig[], now = Date.now()): Promise<void> {
      const existing = (await db.select().from(clientKeys).where(eq(clientKeys.source, 'config'))).map(fromRow)
      const wanted = new Map(keys.map((k) => [`cfg_${k.name}`, k]))
      const writes = []
      for (const [id, k] of wanted) {
        const values = {
          name: k.name,
          prefix: k.key.slice(0, 4) + '…',
          keyHash: sha256Hex(k.key),
          enabled: true,
          revokedAt: null,
          expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt),
          metadata: k.metadata,
          updatedAt: new Date(now),
          ...policyColumns(k.policy),
        }
        const before = existing.find((e) => e.id === id)
        const same = before && before.keyHash === values.keyHash && before.name === k.name && before.enabled &&
          before.revokedAt === null && before.expiresAt === k.expiresAt &&
          JSON.stringify([before.policy, before.metadata]) === JSON.stringify([k.policy, k.metadata])
        if (same) continue
        writes.push(
          db
            .insert(clientKeys)
            .values({ id, source: 'config', createdAt: new Date(now), ...values })
            .onConflictDoUpdate({ target: clientKeys.id, set: values }),
        )
      }
      for (const e of existing) {
        if (!wanted.has(e.id) && e.revokedAt === null) {
          writes.push(db.update(clientKeys).set({ revokedAt: new Date(now), updatedAt: new Date(now) }).where(eq(clientKeys.id, e.id)))
        }
      }
      if (writes.length > 0) await db.batch([bump(), ...writes])
    },

    /** Last-use times, written in one batch off the request path, with one short try (`background`). */
    async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
      if (lastUsed.size === 0) return
      const [first, ...rest] = [...lastUsed].map(([id, at]) => background.update(clientKeys).set({ lastUsedAt: new Date(at) }).where(eq(clientKeys.id, id)))
      await background.batch([first!, ...rest])
    },
  }
}

export type ClientKeyStore = ReturnType<typeof createClientKeyStore>
