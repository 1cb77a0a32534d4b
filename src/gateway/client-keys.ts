import type { StaticKeyConfig } from '../config/schema.ts'
import { sha256Hex } from '../lib/crypto.ts'

/** A client of the gateway, as known after authentication. */
export interface ClientKey {
  id: string
  name: string
}

/** A stored key as the directory needs it (never the secret, only its hash). */
export interface StoredKey {
  id: string
  name: string
  keyHash: string
  expiresAt: number | null
  revokedAt: number | null
}

interface Entry extends ClientKey {
  expiresAt: number | null
}

/**
 * Every usable client key, by hash, in memory: authenticating a request is one hash and one map
 * lookup, never a database query. Lookup by a hash of the presented key, so the secret itself is
 * never compared and nothing about it leaks through timing.
 */
export class KeyDirectory {
  private byHash = new Map<string, Entry>()
  private staticEntries: Array<[string, Entry]>

  private stored: readonly StoredKey[] = []

  constructor(
    staticKeys: readonly StaticKeyConfig[],
    private readonly now: () => number = Date.now,
  ) {
    this.staticEntries = []
    this.replaceStatic(staticKeys)
  }

  /** Swaps in the keys from the config file (on start and on reload). */
  replaceStatic(staticKeys: readonly StaticKeyConfig[]): void {
    this.staticEntries = staticKeys.map((k) => [sha256Hex(k.key), { id: `config:${k.name}`, name: k.name, expiresAt: null }])
    this.replaceStored(this.stored)
  }

  /** Swaps in the current set of stored keys (revoked ones are left out). */
  replaceStored(stored: readonly StoredKey[]): void {
    this.stored = stored
    const next = new Map<string, Entry>(this.staticEntries)
    for (const k of stored) {
      if (k.revokedAt !== null) continue
      next.set(k.keyHash, { id: k.id, name: k.name, expiresAt: k.expiresAt })
    }
    this.byHash = next
  }

  find(presented: string | null): ClientKey | null {
    // Hash even when nothing was presented, so every rejection costs the same.
    const entry = this.byHash.get(sha256Hex(presented ?? ''))
    if (!entry || presented === null) return null
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) return null
    return { id: entry.id, name: entry.name }
  }

  get size(): number {
    return this.byHash.size
  }
}
