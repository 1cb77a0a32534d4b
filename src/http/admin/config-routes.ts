import { Elysia, t } from 'elysia'
import { aliasProblems, priceProblems, providerProblems, type FieldProblem, type StoredAliasSpec, type StoredPriceSpec, type StoredProviderSpec } from '../../config/managed.ts'
import type { ProviderConfig } from '../../config/schema.ts'
import { selfLoopProblems } from '../../config/self-loop.ts'
import { GatewayError } from '../../gateway/errors.ts'
import { keyHint } from '../../gateway/routing/key-pool.ts'
import { clip } from '../../lib/clip.ts'
import { fingerprint } from '../../lib/crypto.ts'
import { SealError } from '../../lib/seal.ts'
import { fetchModelList } from '../../providers/model-list.ts'
import { adapterFor } from '../../providers/registry.ts'
import type { ManagedEntry, ManagedKind } from '../../storage/managed-store.ts'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import { ADMIN_BODY_LIMIT, boundedJson } from '../request-guard.ts'
import type { Traces } from '../traces.ts'
import { providerEdit, redactedProxy, storedProviderView } from './config-edits.ts'

/** A "test" waits this long for the upstream's model list. */
const TEST_TIMEOUT_MS = 10_000
/** Model ids shown in a test's answer. */
const TEST_MODELS_SHOWN = 50
const Body = t.Record(t.String(), t.Unknown())

/** Field problems as the admin API's 400: every problem in the message, the first field as `param`. */
function refused(problems: readonly FieldProblem[]): GatewayError {
  const message = problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; ')
  return new GatewayError('invalid_request', clip(message, 2000), { param: problems[0]?.field || undefined, shouldRetry: false })
}

/** A path segment Elysia decoded (null when its percent-encoding is broken). */
const segment = (value: string | null | undefined): string => {
  if (value === null || value === undefined || value.length > 256) throw new GatewayError('not_found', 'No such entry.')
  return value
}

const iso = (ms: number) => new Date(ms).toISOString()

function fileProviderView(p: ProviderConfig, source: string) {
  return {
    name: p.name,
    source,
    editable: false,
    enabled: true,
    state: 'active',
    problems: [],
    type: p.type,
    base_url: p.base_url,
    models: p.models ?? null,
    model_filters: p.model_filters,
    headers: Object.fromEntries(Object.keys(p.headers).map((h) => [h, '(set)'])),
    proxy: p.proxy ? redactedProxy(p.proxy, (s) => s) : null,
    timeouts: p.timeouts,
    sticky: p.sticky,
    fake_stream: p.fake_stream,
    stream_only: p.stream_only,
    api: p.api,
    priority: p.priority,
    weight: p.weight,
    keys: p.keys.map((k, i) => ({ id: null, label: p.key_labels[i] ?? null, hint: keyHint(k), fingerprint: fingerprint(k) })),
  }
}

/** Editing the providers, aliases and prices kept in the database, and testing providers and keys. */
export const configRoutes = (deps: Deps, traces: Traces) => {
  const managed = () => deps.managed
  const entry = (kind: ManagedKind, name: string) => managed().list(kind).find((e) => e.name === name) ?? null
  const statusOf = (kind: ManagedKind, name: string) => managed().status(kind, name) ?? { state: 'active', problems: [] }

  function managedView(e: ManagedEntry) {
    const status = statusOf(e.kind, e.name)
    const common = { name: e.name, source: 'dashboard', editable: true, enabled: e.enabled, state: status.state, problems: status.problems, created_at: iso(e.createdAt), updated_at: iso(e.updatedAt) }
    if (e.kind === 'provider') return { ...common, ...storedProviderView(e.spec as unknown as StoredProviderSpec, managed().open) }
    return { ...common, ...e.spec }
  }

  function view() {
    const file = deps.fileConfig()
    const source = file.source ? 'file' : 'environment'
    return {
      providers: [...file.providers.map((p) => fileProviderView(p, source)), ...managed().list('provider').map(managedView)],
      aliases: [
        ...file.aliases.map((a) => ({ name: a.name, source, editable: false, enabled: true, state: 'active', problems: [], targets: a.targets, strategy: a.strategy, weights: a.weights, sticky: a.sticky, fake_stream: a.fake_stream })),
        ...managed().list('alias').map(managedView),
      ],
      prices: [
        ...Object.entries(file.prices).map(([name, p]) => ({ name, source, editable: false, enabled: true, state: 'active', problems: [], ...p })),
        ...managed().list('price').map(managedView),
      ],
    }
  }

  const inFile = (kind: ManagedKind, name: string) => {
    const file = deps.fileConfig()
    return kind === 'provider' ? file.providers.some((p) => p.name === name) : kind === 'alias' ? file.aliases.some((a) => a.name === name) : Object.hasOwn(file.prices, name)
  }
  const readOnly = (kind: ManagedKind, name: string) =>
    new GatewayError('conflict', `The ${kind} ${clip(name, 80)} comes from the config file; change it there and reload.`, { param: 'name' })

  /** Aliases kept in the database that send requests to a provider. */
  const aliasesUsing = (provider: string) =>
    managed().list('alias').filter((a) => ((a.spec as unknown as StoredAliasSpec).targets ?? []).some((t) => t.startsWith(provider + '/'))).map((a) => a.name)

  function sealer() {
    try {
      return managed().sealer()
    } catch (err) {
      if (err instanceof SealError) throw new GatewayError('conflict', err.message)
      throw err
    }
  }

  async function saveProvider(body: Record<string, unknown>, previousName: string | null): Promise<Response> {
    const previous = previousName === null ? null : entry('provider', previousName)
    if (previousName !== null && !previous) {
      if (inFile('provider', previousName)) throw readOnly('provider', previousName)
      throw new GatewayError('not_found', `No provider ${clip(previousName, 80)} in the dashboard.`)
    }
    const edit = providerEdit(body, previous ? { name: previous.name, enabled: previous.enabled, spec: previous.spec as unknown as StoredProviderSpec } : null, sealer)
    if (edit.problems.length > 0) throw refused(edit.problems)
    if (inFile('provider', edit.name)) throw new GatewayError('conflict', `The config file already has a provider named ${clip(edit.name, 80)}.`, { param: 'name' })
    if (edit.name !== previousName && entry('provider', edit.name)) throw new GatewayError('conflict', `There is already a provider named ${clip(edit.name, 80)}.`, { param: 'name' })
    const checked = providerProblems(edit.name, edit.spec, managed().open, deps.fileConfig())
    if (checked.problems.length > 0) throw refused(checked.problems)
    const listening = deps.listening()
    if (checked.provider && listening) {
      const loops = selfLoopProblems([checked.provider], listening)
      if (loops.length > 0) throw refused([{ field: 'base_url', message: loops[0]!.replace(/^providers\[0\]\.base_url: /, '') }])
    }
    if (previousName !== null && (edit.name !== previousName || !edit.enabled)) {
      const users = aliasesUsing(previousName)
      if (users.length > 0) throw new GatewayError('conflict', `Aliases ${users.join(', ')} send requests to ${clip(previousName, 80)}; change them first.`, { param: edit.name !== previousName ? 'name' : 'enabled' })
    }
    await managed().store.put({ kind: 'provider', name: edit.name, enabled: edit.enabled, spec: edit.spec as unknown as Record<string, unknown> }, deps.now(), previousName ?? undefined)
    await managed().refresh()
    return Response.json(managedView(entry('provider', edit.name)!), { status: previous ? 200 : 201 })
  }

  async function saveAlias(body: Record<string, unknown>, previousName: string | null): Promise<Response> {
    const previous = previousName === null ? null : entry('alias', previousName)
    if (previousName !== null && !previous) {
      if (inFile('alias', previousName)) throw readOnly('alias', previousName)
      throw new GatewayError('not_found', `No alias ${clip(previousName, 80)} in the dashboard.`)
    }
    const { name: given, enabled: givenEnabled, ...rest } = body
    const name = given === undefined ? previousName : given
    const enabled = givenEnabled === undefined ? (previous?.enabled ?? true) : givenEnabled
    if (typeof name !== 'string' || name === '') throw refused([{ field: 'name', message: 'required field is missing' }])
    if (typeof enabled !== 'boolean') throw refused([{ field: 'enabled', message: 'expected true or false' }])
    const spec: Record<string, unknown> = { ...(previous?.spec ?? {}) }
    for (const [k, v] of Object.entries(rest)) {
      if (v === null) delete spec[k]
      else spec[k] = v
    }
    if (inFile('alias', name)) throw new GatewayError('conflict', `The config file already has an alias named ${clip(name, 80)}.`, { param: 'name' })
    if (name !== previousName && entry('alias', name)) throw new GatewayError('conflict', `There is already an alias named ${clip(name, 80)}.`, { param: 'name' })
    // Against the providers in force: the file's and the dashboard's.
    const checked = aliasProblems(name, spec as StoredAliasSpec, deps.config().providers)
    if (checked.problems.length > 0) throw refused(checked.problems)
    await managed().store.put({ kind: 'alias', name, enabled, spec }, deps.now(), previousName ?? undefined)
    await managed().refresh()
    return Response.json(managedView(entry('alias', name)!), { status: previous ? 200 : 201 })
  }

  async function remove(kind: ManagedKind, name: string): Promise<Response> {
    if (!entry(kind, name)) {
      if (inFile(kind, name)) throw readOnly(kind, name)
      throw new GatewayError('not_found', `No ${kind} ${clip(name, 80)} in the dashboard.`)
    }
    if (kind === 'provider') {
      const users = aliasesUsing(name)
      if (users.length > 0) throw new GatewayError('conflict', `Aliases ${users.join(', ')} send requests to ${clip(name, 80)}; change them first.`)
    }
    await managed().store.remove(kind, name)
    await managed().refresh()
    return Response.json({ name, deleted: true })
  }

  /** The provider to test: in force, or a stored one that is switched off. */
  function providerToTest(name: string): ProviderConfig {
    const live = deps.config().providers.find((p) => p.name === name)
    if (live) return live
    const stored = entry('provider', name)
    if (!stored) throw new GatewayError('not_found', `No provider ${clip(name, 80)}.`)
    const checked = providerProblems(name, stored.spec as unknown as StoredProviderSpec, managed().open, deps.fileConfig())
    if (!checked.provider) throw refused(checked.problems)
    return checked.provider
  }

  /** One small real request (the model list) with one key: what a user wants to know before relying on it. */
  async function test(name: string, fp: string | null): Promise<Response> {
    const provider = providerToTest(name)
    if (provider.module) throw new GatewayError('unsupported', `Provider ${clip(name, 80)} is of type ${provider.type}: it has no model list to ask; test its accounts (POST /admin/api/accounts/{id}/test) or send a request from the playground.`)
    const key = fp === null ? provider.keys[0] : provider.keys.find((k) => fingerprint(k) === fp)
    if (!key) throw new GatewayError('not_found', `No key ${clip(fp ?? '', 64)} in provider ${clip(name, 80)}.`)
    const started = performance.now()
    const base = { provider: name, key: { hint: keyHint(key), fingerprint: fingerprint(key) } }
    try {
      const answer = await fetchModelList(
        adapterFor(provider.type),
        { baseUrl: provider.base_url, key, headers: provider.headers, model: '', stream: false },
        { proxy: provider.proxy, timeoutMs: TEST_TIMEOUT_MS, maxBytes: deps.config().upstream.max_body_bytes },
      )
      const latency = Math.round(performance.now() - started)
      return Response.json({ ...base, ok: true, status: answer.status, latency_ms: latency, model_count: answer.models.length, models: answer.models.slice(0, TEST_MODELS_SHOWN) })
    } catch (err) {
      const latency = Math.round(performance.now() - started)
      const status = (err as { status?: number }).status ?? null
      const message = (err as Error).name === 'TimeoutError' ? `no answer within ${TEST_TIMEOUT_MS / 1000} s` : (err as Error).message
      return Response.json({ ...base, ok: false, status, latency_ms: latency, error: clip(message, 500), model_count: 0, models: [] })
    }
  }

  const opts = (summary: string) => ({ admin: true as const, body: Body, parse: boundedJson(deps, ADMIN_BODY_LIMIT), detail: { summary, tags: ['config'] } })
  return new Elysia({ name: 'admin-config-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .get('/config', ({ request }) => traces.finish(request, Response.json(view())), { admin: true, detail: { summary: 'Providers, aliases and prices: from the file (read-only) and from the dashboard', tags: ['config'] } })
    .post('/config/providers', async ({ request, body }) => traces.finish(request, await saveProvider(body, null)), opts('Add a provider (keys are sealed, shown only as hints)'))
    .patch('/config/providers/:name', async ({ request, body, params }) => traces.finish(request, await saveProvider(body, segment(params.name))), opts('Change a dashboard provider (fields left out are kept)'))
    .delete('/config/providers/:name', async ({ request, params }) => traces.finish(request, await remove('provider', segment(params.name))), { admin: true, detail: { summary: 'Delete a dashboard provider', tags: ['config'] } })
    .post('/config/aliases', async ({ request, body }) => traces.finish(request, await saveAlias(body, null)), opts('Add an alias'))
    .patch('/config/aliases/:name', async ({ request, body, params }) => traces.finish(request, await saveAlias(body, segment(params.name))), opts('Change a dashboard alias'))
    .delete('/config/aliases/:name', async ({ request, params }) => traces.finish(request, await remove('alias', segment(params.name))), { admin: true, detail: { summary: 'Delete a dashboard alias', tags: ['config'] } })
    .put(
      '/config/prices',
      async ({ request, body }) => {
        const { model, enabled = true, ...spec } = body
        if (typeof model !== 'string' || model === '' || model.length > 256) throw refused([{ field: 'model', message: 'expected provider/model or a model name' }])
        if (typeof enabled !== 'boolean') throw refused([{ field: 'enabled', message: 'expected true or false' }])
        if (inFile('price', model)) throw readOnly('price', model)
        const problems = priceProblems(spec as unknown as StoredPriceSpec)
        if (problems.length > 0) throw refused(problems)
        const existed = entry('price', model) !== null
        await managed().store.put({ kind: 'price', name: model, enabled, spec }, deps.now())
        await managed().refresh()
        return traces.finish(request, Response.json(managedView(entry('price', model)!), { status: existed ? 200 : 201 }))
      },
      opts('Set the price of a model (USD per million tokens)'),
    )
    .delete('/config/prices/:model', async ({ request, params }) => traces.finish(request, await remove('price', segment(params.model))), { admin: true, detail: { summary: 'Delete a dashboard price', tags: ['config'] } })
    .post('/providers/:provider/test', async ({ request, params }) => traces.finish(request, await test(segment(params.provider), null)), { admin: true, detail: { summary: "Test a provider: its model list with its first key", tags: ['config'] } })
    .post('/providers/:provider/keys/:fingerprint/test', async ({ request, params }) => traces.finish(request, await test(segment(params.provider), segment(params.fingerprint))), { admin: true, detail: { summary: 'Test one upstream key: its model list', tags: ['config'] } })
}
