import { and, count, eq, sql, type SQL } from 'drizzle-orm'
import type { KeyPolicy, StaticKeyConfig } from '../config/schema.ts'
import { randomToken, sha256Hex } from '../lib/crypto.ts'
import { isPg, rawQuery, sameEngine, type Db, type RawClient, type SqliteDb } from './engine.ts'
import { pgClientKeyQueries } from './pg/client-key-queries.ts'
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
type Insert = typeof clientKeys.$inferInsert

/** Rows whose columns equal all of these (every row when none is given). */
export type KeyFilter = Partial<Pick<Row, 'id' | 'keyHash' | 'name' | 'source'>>

/** A change to the keys, written with the others of its call and a version bump, in one transaction. */
export type KeyWrite =
  | { op: 'insert'; row: Insert }
  | { op: 'upsert'; row: Insert; set: Partial<Insert> }
  | { op: 'update'; id: string; set: Partial<Insert> }

/** What the client-key store needs from its engine. */
export interface ClientKeyQueries {
  select(filter: KeyFilter, limit?: number): Promise<Row[]>
  count(): Promise<number>
  /** The version bump first, then the writes: every writer takes the same lock first, so none deadlock. */
  write(writes: readonly KeyWrite[]): Promise<void>
  /** Last-use times, with one short try (`background`). */
  touch(lastUsed: ReadonlyArray<readonly [id: string, at: number]>): Promise<void>
}

function sqliteClientKeyQueries(db: SqliteDb, background: SqliteDb): ClientKeyQueries {
  const bump = () =>
    db
      .insert(settings)
      .values({ key: VERSION_SETTING, value: '1', updatedAt: new Date() })
      .onConflictDoUpdate({
        target: settings.key,
        set: { value: sql`CAST(${settings.value} AS INTEGER) + 1`, updatedAt: new Date() },
      })
  const build = (w: KeyWrite) =>
    w.op === 'insert'
      ? db.insert(clientKeys).values(w.row)
      : w.op === 'upsert'
        ? db.insert(clientKeys).values(w.row).onConflictDoUpdate({ target: clientKeys.id, set: w.set })
        : db.update(clientKeys).set(w.set).where(eq(clientKeys.id, w.id))
  return {
    async select(filter, limit) {
      const query = db.select().from(clientKeys).where(keyWhere(filter, clientKeys))
      return limit === undefined ? query : query.limit(limit)
    },
    async count() {
      const [row] = await db.select({ n: count() }).from(clientKeys)
      return row?.n ?? 0
    },
    async write(writes) {
      await db.batch([bump(), ...writes.map(build)])
    },
    async touch(lastUsed) {
      const [first, ...rest] = lastUsed.map(([id, at]) => background.update(clientKeys).set({ lastUsedAt: new Date(at) }).where(eq(clientKeys.id, id)))
      if (first) await background.batch([first, ...rest])
    },
  }
}

/** The condition of a filter, on either engine's table. */
export function keyWhere(filter: KeyFilter, table: { [K in keyof KeyFilter]-?: Parameters<typeof eq>[0] }): SQL | undefined {
  const parts = (Object.keys(filter) as (keyof KeyFilter)[]).filter((k) => filter[k] !== undefined).map((k) => eq(table[k], filter[k]))
  return parts.length ? and(...parts) : undefined
}

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

/** A key brought in whose secret is already stored (under any name). */
export class DuplicateKeyError extends Error {
  constructor() {
    super('A client key with this secret already exists.')
  }
}

/** Keys brought from elsewhere must be long enough not to be guessed. */
export const MIN_IMPORTED_KEY_CHARS = 20

/**
 * Client keys in the database, stored as hashes. Every change bumps a version number in the same
 * batch, which running servers poll to pick up edits made by the admin API or the CLI.
 */
export function createClientKeyStore(db: Db, client: RawClient, background: Db = db) {
  const q = isPg(db) ? pgClientKeyQueries(db, sameEngine(db, background)) : sqliteClientKeyQueries(db, sameEngine(db, background))
  return {
    async list(): Promise<StoredClientKey[]> {
      return (await q.select({})).map(fromRow)
    },

    async findByHash(keyHash: string): Promise<StoredClientKey | null> {
      const [row] = await q.select({ keyHash }, 1)
      return row ? fromRow(row) : null
    },

    async get(id: string): Promise<StoredClientKey | null> {
      const [row] = await q.select({ id })
      return row ? fromRow(row) : null
    },

    /** By id, or by name when exactly one live key has it. */
    async resolve(idOrName: string): Promise<StoredClientKey | null | 'ambiguous'> {
      const byId = await this.get(idOrName)
      if (byId) return byId
      const rows = (await q.select({ name: idOrName })).map(fromRow).filter((k) => k.revokedAt === null)
      return rows.length === 1 ? rows[0]! : rows.length > 1 ? 'ambiguous' : null
    },

    count: (): Promise<number> => q.count(),

    /** Polled several times a second: one plain query, no query building. */
    async version(): Promise<number> {
      const [row] = await rawQuery(client, 'SELECT value FROM settings WHERE key = ?', [VERSION_SETTING])
      return row ? Number(row.value) : 0
    },

    async create(
      input: { name: string; expiresAt?: number | null; policy: KeyPolicy; metadata?: Record<string, unknown> | null; secret?: string },
      now = Date.now(),
    ): Promise<NewClientKey> {
      // A key brought from elsewhere (an earlier gateway's) is kept as it is, hashed like any other.
      const secret = input.secret ?? CLIENT_KEY_PREFIX + randomToken(40)
      if (input.secret !== undefined && (await this.findByHash(sha256Hex(secret)))) throw new DuplicateKeyError()
      const id = 'key_' + randomToken(16)
      await q.write([
        { op: 'insert', row: {
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
        } },
      ])
      return { record: (await this.get(id))!, secret }
    },

    async update(id: string, changes: KeyChanges, now = Date.now()): Promise<StoredClientKey | null> {
      const set: Partial<Insert> = { updatedAt: new Date(now) }
      if (changes.name !== undefined) set.name = changes.name
      if (changes.enabled !== undefined) set.enabled = changes.enabled
      if (changes.expiresAt !== undefined) set.expiresAt = changes.expiresAt === null ? null : new Date(changes.expiresAt)
      if (changes.metadata !== undefined) set.metadata = changes.metadata
      if (changes.policy) Object.assign(set, policyColumns(changes.policy))
      await q.write([{ op: 'update', id, set }])
      return this.get(id)
    },

    async revoke(id: string, now = Date.now()): Promise<boolean> {
      const key = await this.get(id)
      if (!key) return false
      if (key.revokedAt === null) {
        await q.write([{ op: 'update', id, set: { revokedAt: new Date(now), updatedAt: new Date(now) } }])
      }
      return true
    },

    /**
     * Keeps the database in step with `auth.keys` in the config: each is stored (hashed) under a
     * stable id, so it is listed, limited and counted like any other key; one that left the
     * config is revoked.
     */
    async syncConfigKeys(keys: readonly StaticKeyConfig[], now = Date.now()): Promise<void> {
      const existing = (await q.select({ source: 'config' })).map(fromRow)
      const wanted = new Map(keys.map((k) => [`cfg_${k.name}`, k]))
      const writes: KeyWrite[] = []
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
        writes.push({ op: 'upsert', row: { id, source: 'config', createdAt: new Date(now), ...values }, set: values })
      }
      for (const e of existing) {
        if (!wanted.has(e.id) && e.revokedAt === null) {
          writes.push({ op: 'update', id: e.id, set: { revokedAt: new Date(now), updatedAt: new Date(now) } })
        }
      }
      if (writes.length > 0) await q.write(writes)
    },

    /** Last-use times, written in one batch off the request path, with one short try (`background`). */
    async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
      if (lastUsed.size > 0) await q.touch([...lastUsed])
    },
  }
}

export type ClientKeyStore = ReturnType<typeof createClientKeyStore>
