import { Elysia, t } from 'elysia'
import { parseExpiry, policyProblems, toPolicy, type KeyPolicyInput } from '../../config/key-policy.ts'
import { KeyPolicyFields } from '../../config/schema.ts'
import { clientKey } from '../../gateway/client-keys.ts'
import { GatewayError } from '../../gateway/errors.ts'
import type { StoredClientKey } from '../../storage/client-key-store.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'

const KeyName = t.String({ minLength: 1, maxLength: 100 })
const CreateKey = t.Object({ name: KeyName, ...KeyPolicyFields }, { additionalProperties: false })
const UpdateKey = t.Object({ name: t.Optional(KeyName), enabled: t.Optional(t.Boolean()), ...KeyPolicyFields }, { additionalProperties: false })

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** A key as the admin API shows it: everything but the secret. */
export function keyJson(k: StoredClientKey, deps: Deps) {
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
    usage: deps.usageOf(clientKey(k.id, k.name, k.policy)),
  }
}

function checked(input: KeyPolicyInput): void {
  const problems = policyProblems(input, '')
  if (problems.length > 0) throw new GatewayError('invalid_request', problems.join('; '))
}

/** Creating, listing, editing and revoking client keys. */
export const keyRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-key-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .post(
      '/keys',
      async ({ request, body }) => {
        checked(body)
        const { record, secret } = await deps.keyStore.create({
          name: body.name,
          expiresAt: parseExpiry(body.expires_at),
          policy: toPolicy(body),
          metadata: body.metadata ?? null,
        })
        await deps.refreshKeys()
        // The only time the secret is ever shown.
        return traces.finish(request, Response.json({ ...keyJson(record, deps), key: secret }, { status: 201 }))
      },
      { admin: true, body: CreateKey, detail: { summary: 'Create a client key (the secret is in this reply only)', tags: ['keys'] } },
    )
    .get(
      '/keys',
      async ({ request }) => {
        const keys = (await deps.keyStore.list()).sort((a, b) => b.createdAt - a.createdAt)
        return traces.finish(request, Response.json({ data: keys.map((k) => keyJson(k, deps)) }))
      },
      { admin: true, detail: { summary: 'List client keys with limits and usage', tags: ['keys'] } },
    )
    .get(
      '/keys/:id',
      async ({ request, params }) => {
        const key = await deps.keyStore.get(params.id)
        if (!key) throw new GatewayError('not_found', `No key ${params.id}.`)
        return traces.finish(request, Response.json(keyJson(key, deps)))
      },
      { admin: true, detail: { summary: 'One client key', tags: ['keys'] } },
    )
    .patch(
      '/keys/:id',
      async ({ request, params, body }) => {
        const key = await deps.keyStore.get(params.id)
        if (!key) throw new GatewayError('not_found', `No key ${params.id}.`)
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
        return traces.finish(request, Response.json(keyJson(updated!, deps)))
      },
      { admin: true, body: UpdateKey, detail: { summary: 'Change a key: limits, models, expiry, enabled (null clears a field)', tags: ['keys'] } },
    )
    .delete(
      '/keys/:id',
      async ({ request, params }) => {
        const key = await deps.keyStore.get(params.id)
        if (!key) throw new GatewayError('not_found', `No key ${params.id}.`)
        if (key.source === 'config') {
          throw new GatewayError('conflict', `Key ${key.name} comes from the config file; remove it there and reload.`)
        }
        await deps.keyStore.revoke(key.id)
        await deps.refreshKeys()
        return traces.finish(request, Response.json({ id: key.id, revoked: true }))
      },
      { admin: true, detail: { summary: 'Revoke a key', tags: ['keys'] } },
    )
