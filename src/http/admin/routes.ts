import { Elysia } from 'elysia'
import { GatewayError } from '../../gateway/errors.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'
import { clip } from '../../lib/clip.ts'
import { fingerprint } from '../../lib/crypto.ts'
import { QuotaProbes } from '../../adapters/quota-probes.ts'

const probes = new WeakMap<Deps, QuotaProbes>()

/**
 * Each stored account among a provider's keys, marked with its id and label, and its last quota
 * probe when the adapter has one (probes run while someone looks, see QuotaProbes).
 */
function withAccounts(deps: Deps, providers: ReturnType<Deps['gateway']['providerKeys']>) {
  let quota = probes.get(deps)
  if (!quota) probes.set(deps, (quota = new QuotaProbes({ accounts: deps.accounts, modules: deps.modules, config: deps.config, logger: deps.logger, now: deps.now })))
  const results = quota.view()
  const byFingerprint = new Map(deps.accounts.list().map((a) => [fingerprint(a.id), a]))
  return providers.map((p) => ({
    ...p,
    keys_detail: p.keys_detail.map((k) => {
      const account = byFingerprint.get(k.fingerprint)
      return account ? { ...k, hint: account.label ?? account.id, account: { id: account.id, label: account.label, quota: results.get(account.id) ?? null } } : k
    }),
  }))
}

/** The admin API under /admin/api: reload, upstream providers and keys. */
export const adminRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .post(
      '/reload',
      async ({ request }) => {
        const result = await deps.reload()
        if (!result.ok) {
          throw new GatewayError('invalid_request', `The config was not reloaded: ${result.problems.join('; ')}`, {
            shouldRetry: false,
          })
        }
        return traces.finish(request, Response.json({ reloaded: true, changes: result.changes }))
      },
      { admin: true },
    )
    .get('/providers', ({ request }) => traces.finish(request, Response.json({ data: withAccounts(deps, deps.gateway.providerKeys()) })), {
      admin: true,
    })
    .post(
      '/providers/:provider/keys/:fingerprint/enable',
      async ({ request, params }) => {
        // Elysia gives null for a segment whose percent-encoding is broken.
        const { provider, fingerprint } = params as { provider: string | null; fingerprint: string | null }
        if (provider === null || fingerprint === null || !(await deps.gateway.enableKey(provider, fingerprint))) {
          throw new GatewayError('not_found', `No key ${clip(fingerprint ?? '?', 64)} in provider ${clip(provider ?? '?', 64)}.`)
        }
        return traces.finish(request, Response.json({ enabled: true }))
      },
      { admin: true },
    )
