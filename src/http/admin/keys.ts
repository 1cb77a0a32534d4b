import { Elysia, t } from 'elysia'
import { parseExpiry, policyProblems, toPolicy, type KeyPolicyInput } from '../../config/key-policy.ts'
import { KeyPolicyFields } from '../../config/schema.ts'
import { clientKey } from '../../gateway/access/client-keys.ts'
import { GatewayError } from '../../gateway/errors.ts'
import { DuplicateKeyError, MIN_IMPORTED_KEY_CHARS, type StoredClientKey } from '../../storage/client-key-store.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'
import { ADMIN_BODY_LIMIT, boundedJson } from '../request-guard.ts'
import { clip } from '../../lib/clip.ts'

/** A key's metadata is kept with it and shown in every listing: a few KiB of JSON at most. */
const MAX_METADATA_BYTES = 16 * 1024
/** Each model pattern or address range, and how many of them. */
const MAX_ENTRY_CHARS = 256
const MAX_ENTRIES = 1000

const KeyName = t.String({ minLength: 1, maxLength: 100 })
const CreateKey = t.Object(
  {
    name: KeyName,
    /** An existing key to bring in (from an earlier gateway); otherwise one is made. */
    key: t.Optional(t.String({ minLength: MIN_IMPORTED_KEY_CHARS, maxLength: 1024, pattern: '^\\S+$', description: 'an existing client key to import, at least 20 characters, no spaces' })),
    ...KeyPolicyFields,
  },
  { additionalProperties: false },
)
const UpdateKey = t.Object({ name: t.Optional(KeyName), enabled: t.Optional(t.Boolean()), ...KeyPolicyFields }, { additionalProperties: false })

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** A key as the admin API shows it: everything but the secret. Its usage may live in Redis, hence the promise. */
export async function keyJson(k: StoredClientKey, deps: Deps) {
  const q = k.policy.quota
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    source: k.source,
    enabled: k.enabled,
    revoked: k.revokedAt !== null,
    revoked_at: iso(k.revokedAt),
    created_at: iso(k.createdAt),
    updated_at: iso(k.updatedAt),
    expires_at: iso(k.expiresAt),
    last_used_at: iso(k.lastUsedAt),
    models: k.policy.models,
    ips: k.policy.ips,
    rpm: k.policy.rpm,
    tpm: k.policy.tpm,
    max_concurrent: k.policy.maxConcurrent,
    quota: q
      ? { period: q.period, tokens: q.tokens, requests: q.requests, budget_usd: q.budgetUsd, reset_time: q.resetTime, timezone: q.timezone }
      : null,
    metadata: k.metadata,
    usage: await deps.usageOf(clientKey(k.id, k.name, k.policy)),
  }
}

function checked(input: KeyPolicyInput): void {
  const problems = policyProblems(input, '')
  for (const field of ['models', 'ips'] as const) {
    const list = input[field]
    if (!list) continue
    if (list.length > MAX_ENTRIES) problems.push(`${field}: at most ${MAX_ENTRIES} entries`)
    if (list.some((entry) => entry.length > MAX_ENTRY_CHARS)) problems.push(`${field}: each entry at most ${MAX_ENTRY_CHARS} characters`)
  }
  if (input.metadata && Buffer.byteLength(JSON.stringify(input.metadata)) > MAX_METADATA_BYTES) {
    problems.push(`metadata: at most ${MAX_METADATA_BYTES / 1024} KiB of JSON`)
  }
  if (problems.length > 0) throw new GatewayError('invalid_request', clip(problems.join('; '), 2000))
}

const noKey = (id: string) => new GatewayError('not_found', `No key ${clip(id, 64)}.`)

/** The key a path names. Elysia gives null for a segment whose percent-encoding is broken. */
async function keyAt(deps: Deps, id: string | null): Promise<StoredClientKey> {
  const key = id === null || id.length > 256 ? null : await deps.keyStore.get(id)
  if (!key) throw noKey(id ?? '(not valid percent-encoding)')
  return key
}

/** Creating, listing, editing and revoking client keys. */
export const keyRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-key-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .post(
      '/keys',
      async ({ request, body }) => {
        checked(body)
        let created
        try {
          created = await deps.keyStore.create({
            name: body.name,
            expiresAt: parseExpiry(body.expires_at),
            policy: toPolicy(body),
            metadata: body.metadata ?? null,
            ...(body.key !== undefined ? { secret: body.key } : {}),
          })
        } catch (err) {
          if (err instanceof DuplicateKeyError) throw new GatewayError('conflict', err.message, { param: 'key' })
          throw err
        }
        await deps.refreshKeys()
        const { record, secret } = created
        // The only time a made secret is shown; an imported one is the caller's already and is not echoed.
        const reply = body.key !== undefined ? { ...(await keyJson(record, deps)), imported: true } : { ...(await keyJson(record, deps)), key: secret }
        return traces.finish(request, Response.json(reply, { status: 201 }))
      },
      { admin: true, body: CreateKey, parse: boundedJson(deps, ADMIN_BODY_LIMIT), detail: { summary: 'Create a client key (the secret is in this reply only)', tags: ['keys'] } },
    )
    .get(
      '/keys',
      async ({ request }) => {
        const keys = (await deps.keyStore.list()).sort((a, b) => b.createdAt - a.createdAt)
        return traces.finish(request, Response.json({ data: await Promise.all(keys.map((k) => keyJson(k, deps))) }))
      },
      { admin: true, detail: { summary: 'List client keys with limits and usage', tags: ['keys'] } },
    )
    .get(
      '/keys/:id',
      async ({ request, params }) => {
        const key = await keyAt(deps, params.id)
        return traces.finish(request, Response.json(await keyJson(key, deps)))
      },
      { admin: true, detail: { summary: 'One client key', tags: ['keys'] } },
    )
    .patch(
      '/keys/:id',
      async ({ request, params, body }) => {
        const key = await keyAt(deps, params.id)
        if (key.source === 'config') {
          throw new GatewayError('conflict', `Key ${key.name} comes from the config file; change it there and reload.`)
        }
        checked(body)
        const q = key.policy.quota
        // Fields left out keep their value; null clears one.
        const merged: KeyPolicyInput = {
          models: key.policy.models as string[] | null,
          ips: key.policy.ips as string[] | null,
          rpm: key.policy.rpm,
          tpm: key.policy.tpm,
          max_concurrent: key.policy.maxConcurrent,
          quota: q ? { period: q.period, tokens: q.tokens, requests: q.requests, budget_usd: q.budgetUsd, reset_time: q.resetTime, timezone: q.timezone } : null,
          ...body,
        }
        const updated = await deps.keyStore.update(key.id, {
          name: body.name,
          enabled: body.enabled,
          expiresAt: body.expires_at === undefined ? undefined : parseExpiry(body.expires_at),
          metadata: body.metadata,
          policy: toPolicy(merged),
        })
        await deps.refreshKeys()
        return traces.finish(request, Response.json(await keyJson(updated!, deps)))
      },
      { admin: true, body: UpdateKey, parse: boundedJson(deps, ADMIN_BODY_LIMIT), detail: { summary: 'Change a key: limits, models, expiry, enabled (null clears a field)', tags: ['keys'] } },
    )
    .delete(
      '/keys/:id',
      async ({ request, params }) => {
        const key = await keyAt(deps, params.id)
        if (key.source === 'config') {
          throw new GatewayError('conflict', `Key ${key.name} comes from the config file; remove it there and reload.`)
        }
        await deps.keyStore.revoke(key.id)
        await deps.refreshKeys()
        return traces.finish(request, Response.json({ id: key.id, revoked: true }))
      },
      { admin: true, detail: { summary: 'Revoke a key', tags: ['keys'] } },
    )
