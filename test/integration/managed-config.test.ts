import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { keyOf, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'admin-token-for-managed-tests'
const UPSTREAM_KEY = 'sk-dashboard-upstream-key-0001'
const HEADER_SECRET = 'header-secret-value-42'
let mock: MockUpstream
let gw: TestGateway

const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${gw.url}/admin/api${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }) as unknown as Promise<Omit<Response, 'json'> & { json(): Promise<any> }>

beforeAll(async () => {
  mock = startMockUpstream(['mock-model', 'dash-model'])
  // The model list answers 401 to a key that is not a good one, as real upstreams do.
  mock.handler = async (req, body, seen) => {
    if (seen.path === '/v1/models' && keyOf(seen).startsWith('sk-bad')) return Response.json({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }, { status: 401 })
    if (seen.path === '/v1/models') return Response.json({ object: 'list', data: mock.models.map((id) => ({ id, object: 'model' })) })
    return Response.json({ id: 'c1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: `via ${keyOf(seen).slice(-4)}` }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })
  }
  gw = await startGateway({
    admin: { token: ADMIN },
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [{ name: 'filed', type: 'openai', base_url: mock.baseUrl, keys: ['sk-file-key-000000000001'], models: ['mock-model'] }],
  })
})
afterAll(async () => {
  await gw?.stop()
  mock.stop()
})

/** The status an SDK call failed with (its promise is not a native one, so `rejects` cannot read it). */
const failure = (call: Promise<unknown>) => call.then(() => 200, (err: { status?: number }) => err.status ?? 0)
const chat = (model: string) => new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })

describe('providers kept in the database', () => {
  test('a provider added through the admin API serves requests at once; its secrets are sealed, shown as hints', async () => {
    const res = await admin('/config/providers', 'POST', {
      name: 'dash',
      type: 'openai',
      base_url: mock.baseUrl,
      models: ['dash-model'],
      headers: { 'x-extra': HEADER_SECRET },
      keys: [{ key: UPSTREAM_KEY, label: 'team A' }],
    })
    expect(res.status).toBe(201)
    const created = await res.json()
    expect(created).toMatchObject({ name: 'dash', source: 'dashboard', editable: true, state: 'active', keys: [{ label: 'team A', hint: 'sk-...0001' }], headers: { 'x-extra': '(set)' } })
    expect(JSON.stringify(created)).not.toContain(UPSTREAM_KEY)
    const answer = await chat('dash-model')
    expect(answer.choices[0]!.message.content).toBe('via 0001')
    expect(mock.requests.at(-1)!.headers['x-extra']).toBe(HEADER_SECRET)

    // In the database: sealed, not plaintext; the sealing key is a file of its own, mode 0600.
    const raw = readFileSync(join(gw.dir, 'test.db'))
    expect(raw.includes(Buffer.from(UPSTREAM_KEY))).toBe(false)
    expect(raw.includes(Buffer.from(HEADER_SECRET))).toBe(false)
    const db = createClient({ url: `file:${join(gw.dir, 'test.db')}` })
    const row = (await db.execute("SELECT spec FROM managed_entries WHERE name = 'dash'")).rows[0]!
    db.close()
    expect(String(row.spec)).toContain('"sealed":"v1.')
    expect(existsSync(join(gw.dir, 'sluice.key'))).toBe(true)
    expect(statSync(join(gw.dir, 'sluice.key')).mode & 0o777).toBe(0o600)
    // Never in the logs either.
    expect(gw.logs.join('\n')).not.toContain(UPSTREAM_KEY)
  })

  test('the listing shows file providers read-only beside dashboard ones', async () => {
    const { providers } = await (await admin('/config')).json()
    expect(providers.map((p: any) => [p.name, p.source, p.editable])).toEqual([['filed', 'file', false], ['dash', 'dashboard', true]])
    const edit = await admin('/config/providers/filed', 'PATCH', { base_url: 'http://127.0.0.1:1/v1' })
    expect(edit.status).toBe(409)
    expect((await edit.json()).error.message).toContain('config file')
    expect((await admin('/config/providers/filed', 'DELETE')).status).toBe(409)
    const clash = await admin('/config/providers', 'POST', { name: 'filed', type: 'openai', base_url: mock.baseUrl, keys: [{ key: 'sk-x-000000000000000' }] })
    expect(clash.status).toBe(409)
  })

  test('bad input is refused with the field named, by the same rules as the file', async () => {
    const bad = async (body: object, field: string, words: string) => {
      const res = await admin('/config/providers', 'POST', body)
      expect(res.status).toBe(400)
      const { error } = await res.json()
      expect(error.param).toBe(field)
      expect(error.message).toContain(words)
    }
    await bad({ name: 'x1', type: 'openai', base_url: 'ftp://nope', keys: [{ key: 'sk-a-1234567890123' }] }, 'base_url', 'http(s) URL')
    await bad({ name: 'x2', type: 'nosuch', keys: [{ key: 'sk-a-1234567890123' }] }, 'type', 'expected one of')
    await bad({ name: 'bad name', type: 'openai', keys: [{ key: 'sk-a-1234567890123' }] }, 'name', 'letters')
    await bad({ name: 'x3', type: 'openai', keys: [] }, 'keys', 'at least one')
    await bad({ name: 'x4', type: 'openai', keys: [{ key: 'sk-a-1234567890123' }], models: ['/[/'] }, 'models[0]', 'regular expression')
    await bad({ name: 'x5', type: 'openai', keys: [{ key: 'sk-a-1234567890123' }], colour: 'red' }, 'colour', 'unknown field')
    await bad({ name: 'x6', type: 'openai', keys: [{ key: 'sk-a-1234567890123' }], base_url: `${gw.url}/v1` }, 'base_url', 'this gateway itself')
    const { providers } = await (await admin('/config')).json()
    expect(providers.map((p: any) => p.name)).toEqual(['filed', 'dash'])
  })

  test('an edit keeps what it does not name: a key kept by id, a header kept by null, a new key added', async () => {
    const before = (await (await admin('/config')).json()).providers.find((p: any) => p.name === 'dash')
    const res = await admin('/config/providers/dash', 'PATCH', { keys: [{ id: before.keys[0].id, label: 'team A' }, { key: 'sk-dashboard-upstream-key-0002', label: 'team B' }], headers: { 'x-extra': null } })
    expect(res.status).toBe(200)
    const after = await res.json()
    expect(after.keys.map((k: any) => [k.label, k.hint])).toEqual([['team A', 'sk-...0001'], ['team B', 'sk-...0002']])
    expect(after.keys[0].id).toBe(before.keys[0].id)
    expect(after.base_url).toBe(before.base_url)
    await chat('dash-model')
    expect(mock.requests.at(-1)!.headers['x-extra']).toBe(HEADER_SECRET)
    // Unchanged save: nothing moves.
    const same = await (await admin('/config/providers/dash', 'PATCH', {})).json()
    expect({ ...same, updated_at: null }).toEqual({ ...after, updated_at: null })
  })

  test('test: a working key lists models with status and latency; a failing key says why', async () => {
    const { providers } = await (await admin('/config')).json()
    const dash = providers.find((p: any) => p.name === 'dash')
    const ok = await (await admin(`/providers/dash/keys/${dash.keys[0].fingerprint}/test`, 'POST')).json()
    expect(ok).toMatchObject({ ok: true, status: 200, model_count: 2, models: ['mock-model', 'dash-model'] })
    expect(ok.latency_ms).toBeGreaterThanOrEqual(0)
    await admin('/config/providers/dash', 'PATCH', { keys: [...dash.keys.map((k: any) => ({ id: k.id, label: k.label })), { key: 'sk-bad-key-000000000003' }] })
    const withBad = (await (await admin('/config')).json()).providers.find((p: any) => p.name === 'dash')
    const failed = await (await admin(`/providers/dash/keys/${withBad.keys[2].fingerprint}/test`, 'POST')).json()
    expect(failed).toMatchObject({ ok: false, status: 401 })
    expect(failed.error).toContain('401')
    expect(JSON.stringify(failed)).not.toContain('sk-bad-key-000000000003')
    // A file provider can be tested too.
    expect((await (await admin('/providers/filed/test', 'POST')).json()).ok).toBe(true)
  })

  test('disabled, it serves nothing and stays listed; enabled again, it survives a reload of the file', async () => {
    expect((await admin("/config/providers/dash", "PATCH", { enabled: false })).status).toBe(200)
    expect(await failure(chat('dash-model'))).toBe(404)
    expect((await (await admin('/config')).json()).providers.find((p: any) => p.name === 'dash')).toMatchObject({ enabled: false, state: 'disabled' })
    await admin('/config/providers/dash', 'PATCH', { enabled: true })
    // A reload of the file keeps the dashboard's providers.
    expect((await admin('/reload', 'POST')).status).toBe(200)
    expect((await chat('dash-model')).choices[0]!.message.content).toStartWith('via ')
  })
})

describe('aliases and prices kept in the database', () => {
  test('an alias to a dashboard provider routes; a price is applied to the cost', async () => {
    const alias = await admin('/config/aliases', 'POST', { name: 'smart', targets: ['dash/dash-model'] })
    expect(alias.status).toBe(201)
    expect((await chat('smart')).model).toBe('dash-model')
    const bad = await admin('/config/aliases', 'POST', { name: 'dumb', targets: ['nowhere/m'] })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.param).toBe('targets[0]')
    // A provider an alias uses cannot be deleted under it.
    expect((await admin('/config/providers/dash', 'DELETE')).status).toBe(409)

    const price = await admin('/config/prices', 'PUT', { model: 'dash/dash-model', prompt: 1_000_000, completion: 1_000_000 })
    expect(price.status).toBe(201)
    const bad2 = await admin('/config/prices', 'PUT', { model: 'dash/dash-model', prompt: -1, completion: 1 })
    expect((await bad2.json()).error.param).toBe('prompt')
    await chat('dash-model')
    await eventually(async () => {
      const { data } = await (await admin('/requests?limit=1')).json()
      return data[0]?.costUsd === 5
    })
    expect((await admin('/config/prices/dash%2Fdash-model', 'DELETE')).status).toBe(200)
    expect((await admin('/config/aliases/smart', 'DELETE')).status).toBe(200)
    expect((await admin('/config/providers/dash', 'DELETE')).status).toBe(200)
    expect(await failure(chat('dash-model'))).toBe(404)
  })
})

describe('across restarts and processes', () => {
  const config = () => ({ admin: { token: ADMIN }, auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] } })

  test('a second gateway on the same database serves a provider added through the first within a second; a restart keeps it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-managed-'))
    const a = await startGateway(config(), {}, { dir })
    const b = await startGateway(config(), {}, { dir })
    try {
      gw = a
      expect((await admin('/config/providers', 'POST', { name: 'shared', type: 'openai', base_url: mock.baseUrl, models: ['dash-model'], keys: [{ key: UPSTREAM_KEY }] })).status).toBe(201)
      const viaB = () => new OpenAI({ apiKey: CLIENT_KEY, baseURL: b.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'dash-model', messages: [{ role: 'user', content: 'hi' }] })
      const started = Date.now()
      await eventually(async () => (await failure(viaB())) === 200, 3000)
      expect(Date.now() - started).toBeLessThan(2500)
      await a.stop()
      await b.stop()
      const c = await startGateway(config(), {}, { dir })
      try {
        gw = c
        expect((await chat('dash-model')).choices[0]!.message.content).toBe('via 0001')
        // Without its sealing key, the stored provider cannot be used, and says why.
        await c.stop()
        rmSync(join(dir, 'sluice.key'))
        const d = await startGateway(config(), {}, { dir })
        gw = d
        try {
          const shared = (await (await admin('/config')).json()).providers.find((p: any) => p.name === 'shared')
          expect(shared.state).toBe('invalid')
          expect(shared.problems[0].message).toContain('secret key')
          expect(await failure(chat('dash-model'))).toBe(404)
        } finally {
          await d.stop()
        }
      } finally {
        await c.stop().catch(() => {})
      }
    } finally {
      await a.stop().catch(() => {})
      await b.stop().catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a SLUICE_SECRET_KEY that is not a key stops the start with one line naming it', async () => {
    const err = await startGateway(config(), { SLUICE_SECRET_KEY: 'too-short' }).then(() => null, (e: Error) => e)
    expect(err?.message).toContain('SLUICE_SECRET_KEY: expected 32 bytes as 64 hex characters')
    // A good one is used instead of a key file.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-managed-'))
    const e = await startGateway(config(), { SLUICE_SECRET_KEY: 'ab'.repeat(32) }, { dir })
    gw = e
    try {
      expect((await admin('/config/providers', 'POST', { name: 'envkey', type: 'openai', base_url: mock.baseUrl, models: ['m'], keys: [{ key: UPSTREAM_KEY }] })).status).toBe(201)
      expect(existsSync(join(dir, 'sluice.key'))).toBe(false)
    } finally {
      await e.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
