import { Elysia, t } from 'elysia'
import { AccountOpError, accountProvider, importAccount, testAccount, type AccountOps } from '../../adapters/account-ops.ts'
import { GatewayError } from '../../gateway/errors.ts'
import { clip } from '../../lib/clip.ts'
import { SealError } from '../../lib/seal.ts'
import type { StoredAccount } from '../../storage/account-store.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import { ADMIN_BODY_LIMIT, boundedJson } from '../request-guard.ts'
import type { Traces } from '../traces.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** An account as the admin API shows it: never its credentials. */
function accountJson(a: StoredAccount) {
  return { id: a.id, provider: a.provider, label: a.label, enabled: a.enabled, disabled_reason: a.disabledReason, token_expires_at: iso(a.expiresAt), created_at: iso(a.createdAt), updated_at: iso(a.updatedAt) }
}

const ImportBody = t.Object({ provider: t.String({ minLength: 1, maxLength: 200 }), label: t.Optional(t.String({ maxLength: 80 })), credentials: t.Record(t.String(), t.Unknown()) }, { additionalProperties: false })

/** Accounts of module and flow providers: list, import, test, enable, remove (logins run in the CLI). */
export const accountRoutes = (deps: Deps, traces: Traces) => {
  const ops = (): AccountOps => ({
    store: deps.accounts.store,
    sealing: () => ({ seal: (p) => deps.managed.sealer().seal(p), open: deps.managed.open }),
    now: deps.now,
    log: deps.logger,
  })
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (err) {
      if (err instanceof AccountOpError) throw new GatewayError('invalid_request', clip(err.message, 500))
      if (err instanceof SealError) throw new GatewayError('conflict', err.message)
      throw err
    }
  }
  const stored = async (id: string | null) => {
    const account = id === null || id.length > 100 ? null : await deps.accounts.store.get(id)
    if (!account) throw new GatewayError('not_found', `No account ${clip(id ?? '', 64)}.`)
    return account
  }
  /** Changes made here reach the pools at once (other processes within a second). */
  const applied = async () => {
    await deps.accounts.load()
    await deps.managed.refresh()
  }
  return new Elysia({ name: 'admin-account-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .get('/accounts', async ({ request }) => traces.finish(request, Response.json({ data: (await deps.accounts.store.list()).map(accountJson) })), { admin: true, detail: { summary: 'Accounts of module and flow providers (never their credentials)', tags: ['accounts'] } })
    .post(
      '/accounts',
      async ({ request, body }) =>
        guard(async () => {
          const account = await importAccount(ops(), accountProvider(deps.config().providers, body.provider), body.credentials, body.label)
          await applied()
          return traces.finish(request, Response.json(accountJson(account), { status: 201 }))
        }),
      { admin: true, body: ImportBody, parse: boundedJson(deps, ADMIN_BODY_LIMIT), detail: { summary: 'Store an account from credentials brought from elsewhere (sealed, never shown again)', tags: ['accounts'] } },
    )
    .post(
      '/accounts/:id/test',
      async ({ request, params }) =>
        guard(async () => {
          const account = await stored(params.id)
          const provider = accountProvider(deps.config().providers, account.provider)
          const mod = deps.modules.moduleOf(provider.name) ?? (await deps.modules.load(provider))
          try {
            const result = await testAccount(ops(), provider, mod, account, AbortSignal.timeout(provider.timeouts.total_ms))
            await deps.accounts.load()
            return traces.finish(request, Response.json({ id: account.id, ok: true, ...result }))
          } catch (err) {
            return traces.finish(request, Response.json({ id: account.id, ok: false, error: clip((err as Error).message ?? String(err), 500) }))
          }
        }),
      { admin: true, detail: { summary: "Test an account: refresh it (saving the rotated token) and run the adapter's quota probe", tags: ['accounts'] } },
    )
    .post(
      '/accounts/:id/enable',
      async ({ request, params }) => {
        const account = await stored(params.id)
        await deps.accounts.store.setEnabled(account.id, true, null, deps.now())
        await applied()
        return traces.finish(request, Response.json({ id: account.id, enabled: true }))
      },
      { admin: true, detail: { summary: 'Put a disabled account back in its pool', tags: ['accounts'] } },
    )
    .delete(
      '/accounts/:id',
      async ({ request, params }) => {
        const account = await stored(params.id)
        await deps.accounts.store.remove(account.id)
        await applied()
        return traces.finish(request, Response.json({ id: account.id, removed: true }))
      },
      { admin: true, detail: { summary: 'Remove an account and its credentials', tags: ['accounts'] } },
    )
}
