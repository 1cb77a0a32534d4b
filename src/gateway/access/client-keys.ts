import { sha256Hex } from '../../lib/crypto.ts'
import { ipMatcher } from '../../lib/cidr.ts'
import type { KeyPolicy } from '../../config/schema.ts'

export type { KeyPolicy, QuotaPolicy } from '../../config/schema.ts'

export const OPEN_POLICY: KeyPolicy = { models: null, ips: null, rpm: null, tpm: null, maxConcurrent: null, quota: null }

/** A client of the gateway, as known after authentication. */
export interface ClientKey {
  id: string
  name: string
  policy: KeyPolicy
  allowsModel(model: string): boolean
  allowsIp(ip: string | null): boolean
}

/** A stored key as the directory needs it (never the secret, only its hash). */
export interface StoredKey {
  id: string
  name: string
  keyHash: string
  enabled: boolean
  expiresAt: number | null
  revokedAt: number | null
  policy: KeyPolicy
}

interface Entry {
  key: ClientKey
  expiresAt: number | null
}

/** `openai/*`, `*-mini` and exact ids; `*` matches anything, including slashes. */
export function modelMatcher(patterns: readonly string[] | null): (model: string) => boolean {
  if (patterns === null) return () => true
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns
    .filter((p) => p.includes('*'))
    .map((p) => new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'))
  return (model) => exact.has(model) || globs.some((g) => g.test(model))
}

export function clientKey(id: string, name: string, policy: KeyPolicy): ClientKey {
  const models = modelMatcher(policy.models)
  const ips = policy.ips ? ipMatcher(policy.ips) : null
  return { id, name, policy, allowsModel: models, allowsIp: (ip) => ips === null || (ip !== null && ips(ip)) }
}

/**
 * Every usable client key, by hash, in memory: authenticating a request is one hash and one map
 * lookup, never a database query. Lookup by a hash of the presented key, so the secret itself is
 * never compared and nothing about it leaks through timing.
 */
/** Why a presented key that the gateway knows was refused; for the operator, never the client. */
export interface Refusal {
  id: string
  name: string
  reason: 'revoked' | 'disabled' | 'expired'
}

export class KeyDirectory {
  private byHash = new Map<string, Entry>()
  /** Keys that exist but may not be used, by hash, so a refusal can be explained in the log. */
  private refused = new Map<string, Omit<Refusal, 'reason'> & { reason: 'revoked' | 'disabled' }>()

  constructor(private readonly now: () => number = Date.now) {}

  /** Swaps in the current set of keys (revoked and disabled ones are left out). */
  replace(stored: readonly StoredKey[]): void {
    const next = new Map<string, Entry>()
    const refused: typeof this.refused = new Map()
    for (const k of stored) {
      if (k.revokedAt !== null || !k.enabled) {
        refused.set(k.keyHash, { id: k.id, name: k.name, reason: k.revokedAt !== null ? 'revoked' : 'disabled' })
        continue
      }
      next.set(k.keyHash, { key: clientKey(k.id, k.name, k.policy), expiresAt: k.expiresAt })
    }
    this.byHash = next
    this.refused = refused
  }

  /** For a presented key that `find` refused: which known key it is and why, or null for an unknown one. */
  explain(presented: string | null): Refusal | null {
    if (presented === null) return null
    const hash = sha256Hex(presented)
    const entry = this.byHash.get(hash)
    if (entry) return { id: entry.key.id, name: entry.key.name, reason: 'expired' }
    return this.refused.get(hash) ?? null
  }

  find(presented: string | null): ClientKey | null {
    // Hash even when nothing was presented, so every rejection costs the same.
    const entry = this.byHash.get(sha256Hex(presented ?? ''))
    if (!entry || presented === null) return null
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) return null
    return entry.key
  }

  get size(): number {
    return this.byHash.size
  }
}
