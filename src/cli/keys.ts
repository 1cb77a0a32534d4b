import { parseExpiry, policyProblems, toPolicy, type KeyPolicyInput } from '../config/key-policy.ts'
import { existsSync } from 'node:fs'
import { openDatabase } from '../storage/database.ts'
import { createClientKeyStore, DuplicateKeyError, MIN_IMPORTED_KEY_CHARS, type StoredClientKey } from '../storage/client-key-store.ts'
import { UsageError } from './args.ts'

type Out = { write(text: string): unknown }

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag}: expected a whole number above 0, got "${value}"`)
  return n
}

/** The policy that `keys create` flags describe. */
export function policyFromFlags(f: Record<string, string | undefined>): KeyPolicyInput {
  const daily = f['daily-tokens'] !== undefined || f['daily-requests'] !== undefined
  const monthly = f['monthly-tokens'] !== undefined || f['monthly-requests'] !== undefined
  if (daily && monthly) throw new UsageError('a key has daily or monthly quotas, not both')
  if (f['reset-time'] !== undefined && !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(f['reset-time'])) {
    throw new UsageError(`--reset-time: expected a time of day as HH:MM, got "${f['reset-time']}"`)
  }
  const budget = f.budget === undefined ? undefined : Number(f.budget)
  if (budget !== undefined && !(budget > 0)) throw new UsageError(`--budget: expected an amount in USD above 0, got "${f.budget}"`)
  const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean))
  const input: KeyPolicyInput = {
    expires_at: f.expires,
    models: list(f.models),
    ips: list(f.ips),
    rpm: integer('rpm', f.rpm),
    tpm: integer('tpm', f.tpm),
    max_concurrent: integer('concurrency', f.concurrency),
  }
  if (daily || monthly || budget !== undefined) {
    input.quota = {
      period: daily ? 'day' : 'month',
      tokens: integer(daily ? 'daily-tokens' : 'monthly-tokens', f[daily ? 'daily-tokens' : 'monthly-tokens']) ?? null,
      requests: integer(daily ? 'daily-requests' : 'monthly-requests', f[daily ? 'daily-requests' : 'monthly-requests']) ?? null,
      budget_usd: budget ?? null,
      ...(f['reset-time'] ? { reset_time: f['reset-time'] } : {}),
      ...(f.timezone ? { timezone: f.timezone } : {}),
    }
  }
  return input
}

const DAY_MS = 86_400_000

/** A moment as `YYYY-MM-DD HH:MM`, in UTC. */
const date = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16))

/**
 * When a key stops working, as `keys create --expires` takes it: an expiry at the end of a UTC day
 * (what a date-only `--expires 2026-12-31` or `expires_at: 2026-12-31` means, see parseExpiry) is
 * that day, the last one the key works; any other moment is shown as a UTC date and time.
 */
export function expiryText(ms: number | null): string {
  if (ms === null) return '-'
  if (ms % DAY_MS === 0) return new Date(ms - DAY_MS).toISOString().slice(0, 10)
  return date(ms)
}

function state(k: StoredClientKey, now: number): string {
  if (k.revokedAt !== null) return 'revoked'
  if (!k.enabled) return 'disabled'
  if (k.expiresAt !== null && k.expiresAt <= now) return 'expired'
  return 'active'
}

function limits(k: StoredClientKey): string {
  const p = k.policy
  const parts = [
    p.rpm !== null ? `${p.rpm} rpm` : '',
    p.tpm !== null ? `${p.tpm} tpm` : '',
    p.maxConcurrent !== null ? `${p.maxConcurrent} at once` : '',
    p.quota?.tokens != null ? `${p.quota.tokens} tokens/${p.quota.period}` : '',
    p.quota?.requests != null ? `${p.quota.requests} requests/${p.quota.period}` : '',
    p.quota?.budgetUsd != null ? `$${p.quota.budgetUsd}/${p.quota.period}` : '',
    p.models ? `models ${p.models.join(',')}` : '',
  ].filter(Boolean)
  return parts.join('; ') || '-'
}

/** Columns as a terminal shows them: East Asian wide characters take two cells, combining marks none. */
export function table(rows: string[][]): string {
  const width = (text: string) => Bun.stringWidth(text)
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => width(r[i]!))))
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join('  ').trimEnd()).join('\n') + '\n'
}

/** What `keys create` flags ask for, checked before any database is opened. */
export function createInput(flags: Record<string, string | undefined>) {
  const name = flags.name
  if (!name) throw new UsageError('keys create needs --name')
  const input = policyFromFlags(flags)
  const problems = policyProblems(input, '--')
  if (problems.length > 0) throw new UsageError(problems.join('; ').replaceAll('--expires_at', '--expires'))
  const imported = flags.key
  if (imported !== undefined && (imported.length < MIN_IMPORTED_KEY_CHARS || /\s/.test(imported))) {
    throw new UsageError(`--key: an imported key needs at least ${MIN_IMPORTED_KEY_CHARS} characters and no spaces`)
  }
  const expiresAt = parseExpiry(input.expires_at)
  if (expiresAt !== null && expiresAt <= Date.now()) {
    throw new UsageError(`--expires: ${input.expires_at} is already past (a date means through the end of that day, UTC); the key would never work`)
  }
  return { name, input, expiresAt, imported }
}

/** `sluice keys create|list|revoke`, on the database the server uses (safe while it runs). */
export async function keysCommand(
  db: { url: string; auth_token: string | null; source: string | null },
  sub: string,
  target: string | null,
  flags: Record<string, string | undefined>,
  out: Out,
  err: Out,
  force = false,
): Promise<number> {
  // The flags first: a bad value is a usage error whatever the database.
  const create = sub === 'create' ? createInput(flags) : null
  // Which database, always: a key written to the wrong one is a key nobody can use.
  const shown = db.url.replace(/\?.*$/, '')
  err.write(`database: ${shown}${db.source ? ` (from ${db.source})` : ''}\n`)
  const file = /^file:([^?]*)/.exec(db.url)?.[1]
  if (file && file !== ':memory:' && !existsSync(file) && !force) {
    err.write(`sluice: there is no database at ${file}. The server creates it on its first start; point --config or --db at the server's, or pass --force to create a new one here.\n`)
    return 1
  }
  const database = await openDatabase(db.url, db.auth_token)
  const store = createClientKeyStore(database.db, database.client)
  try {
    if (create) {
      const { name, input, expiresAt, imported } = create
      // `keys revoke NAME` and the logs name a key by its name: a second live key with it would make that ambiguous.
      const taken = (await store.list()).find((k) => k.name === name && k.revokedAt === null)
      if (taken) {
        throw new UsageError(
          taken.source === 'config'
            ? `--name: a key named "${name}" already exists (${taken.id}, from the config file); pick another name`
            : `--name: a key named "${name}" already exists (${taken.id}); pick another name, or revoke that key first (sluice keys revoke ${taken.id})`,
        )
      }
      let created
      try {
        created = await store.create({ name, expiresAt, policy: toPolicy(input), ...(imported !== undefined ? { secret: imported } : {}) })
      } catch (err) {
        if (err instanceof DuplicateKeyError) throw new UsageError(`--key: ${err.message}`)
        throw err
      }
      const { record, secret } = created
      if (imported !== undefined) out.write(`imported key ${record.id} (${record.name}); it is stored as a hash.\n`)
      else out.write(`created key ${record.id} (${record.name})\n${secret}\nThis is the only time the key is shown; it is stored as a hash.\n`)
      return 0
    }
    if (sub === 'revoke') {
      const key = await store.resolve(target!)
      if (key === 'ambiguous') {
        err.write(`sluice: several keys are named "${target}"; revoke one by its id (sluice keys list)\n`)
        return 1
      }
      if (!key) {
        err.write(`sluice: no key with the id or name "${target}"\n`)
        return 1
      }
      if (key.source === 'config') {
        err.write(`sluice: key "${key.name}" comes from the config file; remove it there and reload\n`)
        return 1
      }
      await store.revoke(key.id)
      out.write(`revoked key ${key.id} (${key.name})\n`)
      return 0
    }
    const now = Date.now()
    const keys = (await store.list()).sort((a, b) => a.createdAt - b.createdAt)
    if (keys.length === 0) {
      out.write('no client keys\n')
      return 0
    }
    const rows = [['ID', 'NAME', 'PREFIX', 'STATE', 'EXPIRES', 'LAST USED', 'LIMITS']]
    for (const k of keys) rows.push([k.id, k.name, k.prefix, state(k, now), expiryText(k.expiresAt), date(k.lastUsedAt), limits(k)])
    out.write(table(rows))
    return 0
  } finally {
    database.close()
  }
}
