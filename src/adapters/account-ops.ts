import type { ProviderConfig } from '../config/schema.ts'
import type { AccountStore, StoredAccount } from '../storage/account-store.ts'
import { createKit } from './kit/index.ts'
import { createMemoryKv } from './kit/kv.ts'
import type { LogTarget } from './kit/logger.ts'
import { adapterContext } from './context.ts'
import { createSafeFetch } from './kit/safe-fetch.ts'
import type { AdapterContext, AdapterModule, Credentials, LoginContext } from './module-api.ts'
import type { Sealing } from './accounts.ts'

/** What the account commands (CLI and admin API) need: the store, the sealing key, a clock. */
export interface AccountOps {
  store: AccountStore
  sealing: () => Sealing
  now: () => number
  log: LogTarget
}

/** An account operation that cannot be done; the message says why (shown to the operator as it is). */
export class AccountOpError extends Error {}

const MAX_CREDENTIAL_BYTES = 64 * 1024
const LABEL_CHARS = 80

/** The provider an account is for: one of type module or flow. */
export function accountProvider(providers: readonly ProviderConfig[], name: string): ProviderConfig {
  const provider = providers.find((p) => p.name === name)
  if (!provider) throw new AccountOpError(`no provider named ${name.slice(0, 80)} in the config`)
  if (!provider.module) throw new AccountOpError(`provider ${provider.name} is of type ${provider.type}; accounts belong to providers of type module or flow (others take keys)`)
  return provider
}

function checkLabel(label: string | null | undefined): string | null {
  if (label === undefined || label === null || label === '') return null
  if (label.length > LABEL_CHARS) throw new AccountOpError(`label: at most ${LABEL_CHARS} characters`)
  return label
}

/** Stores credentials brought from elsewhere (a token, a cookie, an exported OAuth record). */
export async function importAccount(ops: AccountOps, provider: ProviderConfig, credentials: unknown, label?: string | null): Promise<StoredAccount> {
  if (!credentials || typeof credentials !== 'object' || Array.isArray(credentials)) throw new AccountOpError('credentials: expected a JSON object, such as {"token": "..."} or {"access_token": "...", "refresh_token": "...", "expires_at": 1767225600000}')
  const text = JSON.stringify(credentials)
  if (Buffer.byteLength(text) > MAX_CREDENTIAL_BYTES) throw new AccountOpError(`credentials: at most ${MAX_CREDENTIAL_BYTES / 1024} KiB`)
  const expiresAt = typeof (credentials as Credentials).expires_at === 'number' ? (credentials as Credentials).expires_at! : null
  return ops.store.create({ provider: provider.name, label: checkLabel(label), sealedCredentials: ops.sealing().seal(text), expiresAt }, ops.now())
}

/** Runs the module's login (device code, loopback PKCE) and stores the account it gives. */
export async function loginAccount(ops: AccountOps, provider: ProviderConfig, mod: AdapterModule, say: (line: string) => void, signal: AbortSignal, label?: string | null): Promise<StoredAccount> {
  if (!mod.login) throw new AccountOpError(`the adapter of provider ${provider.name} has no login; bring credentials with "sluice accounts import ${provider.name} FILE"`)
  const module = provider.module!
  const servers: { stop(force?: boolean): unknown }[] = []
  const ctx: LoginContext = {
    options: module.options,
    provider: provider.name,
    fetch: createSafeFetch({ timeoutMs: provider.timeouts.total_ms, connectTimeoutMs: provider.timeouts.connect_ms, allowPrivate: module.allow_private, proxy: provider.proxy ?? undefined, signal }),
    say,
    sleep: (ms) => new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms)
      signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('login cancelled'))), { once: true })
    }),
    async loopback(options = {}) {
      const path = options.path ?? '/callback'
      let deliver: (query: URLSearchParams) => void = () => {}
      const arrived = new Promise<URLSearchParams>((resolve) => (deliver = resolve))
      // Only on the loopback address: the browser on this machine is the only one that can answer.
      const server = Bun.serve({
        hostname: '127.0.0.1',
        port: options.port ?? 0,
        fetch(req) {
          const url = new URL(req.url)
          if (url.pathname !== path) return new Response('not found', { status: 404 })
          deliver(url.searchParams)
          return new Response('<!doctype html><meta charset="utf-8"><title>sluice</title><p>Logged in. You can close this window.</p>', { headers: { 'content-type': 'text/html; charset=utf-8' } })
        },
      })
      servers.push(server)
      return { redirectUri: `http://127.0.0.1:${server.port}${path}`, wait: () => arrived, close: () => server.stop(true) }
    },
    signal,
    now: ops.now,
  }
  try {
    const result = await mod.login(ctx)
    return await importAccount(ops, provider, result.credentials, label ?? result.label ?? null)
  } finally {
    for (const s of servers) s.stop(true)
  }
}

/**
 * Checks an account: its credentials open, a refresh works (when the adapter has one; the rotated
 * credentials are saved), and the adapter's quota probe answers (when it has one).
 */
export async function testAccount(ops: AccountOps, provider: ProviderConfig, mod: AdapterModule, account: StoredAccount, signal: AbortSignal): Promise<{ refreshed: boolean; quota: Record<string, unknown> | null }> {
  let credentials = JSON.parse(ops.sealing().open(account.sealedCredentials)) as Credentials
  const ctxFor = (creds: Credentials): AdapterContext =>
    adapterContext(provider, { id: account.id, label: account.label, credentials: creds, save: async (next) => void (await ops.store.saveCredentials(account.id, ops.sealing().seal(JSON.stringify(next)), typeof next.expires_at === 'number' ? next.expires_at : null, ops.now())) }, {
      kv: createMemoryKv({ now: ops.now }),
      lock: (_key, work) => work(),
      log: ops.log,
      signal,
      now: ops.now,
    })
  let refreshed = false
  if (mod.refresh) {
    credentials = await mod.refresh(ctxFor(credentials).account, ctxFor(credentials))
    await ops.store.saveCredentials(account.id, ops.sealing().seal(JSON.stringify(credentials)), typeof credentials.expires_at === 'number' ? credentials.expires_at : null, ops.now())
    refreshed = true
  }
  const quota = mod.quota ? await mod.quota(ctxFor(credentials)) : null
  return { refreshed, quota }
}

