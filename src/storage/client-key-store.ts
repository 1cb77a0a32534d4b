import { count } from 'drizzle-orm'
import { randomToken, sha256Hex } from '../lib/crypto.ts'
import type { Db } from './database.ts'
import { clientKeys } from './schema.ts'

export const CLIENT_KEY_PREFIX = 'sk-sluice-'

export interface StoredClientKey {
  id: string
  name: string
  prefix: string
  keyHash: string
  createdAt: number
  expiresAt: number | null
  revokedAt: number | null
}

export interface NewClientKey {
  record: StoredClientKey
  /** The secret, available only now: the database keeps its hash. */
  secret: string
}

/** Client keys in the database, stored as hashes. */
export function createClientKeyStore(db: Db) {
  return {
    async list(): Promise<StoredClientKey[]> {
      const rows = await db.select().from(clientKeys)
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        keyHash: r.keyHash,
        createdAt: r.createdAt.getTime(),
        expiresAt: r.expiresAt?.getTime() ?? null,
        revokedAt: r.revokedAt?.getTime() ?? null,
      }))
    },

    async count(): Promise<number> {
      const [row] = await db.select({ n: count() }).from(clientKeys)
      return row?.n ?? 0
    },

    async create(input: { name: string; expiresAt?: number | null }, now = Date.now()): Promise<NewClientKey> {
      const secret = CLIENT_KEY_PREFIX + randomToken(40)
      const record: StoredClientKey = {
        id: 'key_' + randomToken(16),
        name: input.name,
        prefix: secret.slice(0, CLIENT_KEY_PREFIX.length + 4),
        keyHash: sha256Hex(secret),
        createdAt: now,
        expiresAt: input.expiresAt ?? null,
        revokedAt: null,
      }
      await db.insert(clientKeys).values({
        ...record,
        createdAt: new Date(record.createdAt),
        expiresAt: record.expiresAt === null ? null : new Date(record.expiresAt),
        revokedAt: null,
      })
      return { record, secret }
    },
  }
}

export type ClientKeyStore = ReturnType<typeof createClientKeyStore>
