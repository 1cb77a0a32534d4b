import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { runCli } from '../../src/cli/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { defaultChat, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'admin-token-for-key-tests'
let mock: MockUpstream
let gw: TestGateway
let clock = Date.parse('2026-06-15T10:00:00Z')

beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway(
    {
      admin: { token: ADMIN },
      server: { trusted_proxies: ['127.0.0.1'] },
      prices: { 'mock/mock-model': { prompt: 100_000, completion: 100_000 } },
      providers: [
        { name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['mock-model'] },
        { name: 'other', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['m'] },
      ],
      aliases: [{ name: 'either', targets: ['other/m', 'mock/mock-model'] }],
    },
    {},
    { now: () => clock },
  )
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

async function createKey(body: object): Promise<any> {
  const res = await fetch(`${gw.url}/admin/api/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(res.status).toBe(201)
  return res.json()
}

const call = (key: string, body: object = {}, headers: Record<string, string> = {}) =>
  fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], ...body }),
  })

describe('client keys', () => {
  test('a new key is shown once, in sk-sluice- form, and works with the SDK and every way of presenting it', async () => {
    const created = await createKey({ name: 'alice' })
    expect(created.key).toMatch(/^sk-sluice-[A-Za-z0-9]{40}$/)
    expect(created.prefix).toBe(created.key.slice(0, 14))
    const listed: any = await (await fetch(`${gw.url}/admin/api/keys`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
    expect(JSON.stringify(listed)).not.toContain(created.key)
    expect(listed.data.find((k: any) => k.id === created.id)).toMatchObject({ name: 'alice', prefix: created.prefix, revoked: false })

    const sdk = new OpenAI({ apiKey: created.key, baseURL: gw.baseURL, maxRetries: 0 })
    await sdk.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
    const body = JSON.stringify({ model: 'mock-model', messages: [] })
    for (const [suffix, headers] of [
      ['', { 'x-api-key': created.key }],
      ['', { 'api-key': created.key }],
      [`?api_key=${created.key}`, {}],
      [`?key=${created.key}`, {}],
    ] as const) {
      const res = await fetch(`${gw.baseURL}/chat/completions${suffix}`, { method: 'POST', headers, body })
      expect(res.status).toBe(200)
    }
    // A key in the query string never reaches the log.
    expect(gw.logs.join('\n')).not.toContain(created.key)
  })

  test('missing, unknown, revoked, disabled and expired keys all get the same 401; so do hostile values', async () => {
    const expired = await createKey({ name: 'old', expires_at: '2026-06-14' })
    const revoked = await createKey({ name: 'gone' })
    await fetch(`${gw.url}/admin/api/keys/${revoked.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } })
    const disabled = await createKey({ name: 'paused' })
    await fetch(`${gw.url}/admin/api/keys/${disabled.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    })
    const bodies = new Set<string>()
    const attempts: Array<Promise<Response>> = [
      fetch(`${gw.baseURL}/models`),
      fetch(`${gw.baseURL}/models`, { headers: { authorization: 'Bearer sk-sluice-unknown' } }),
      fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${expired.key}` } }),
      fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${revoked.key}` } }),
      fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${disabled.key}` } }),
      fetch(`${gw.baseURL}/models`, { headers: { 'x-api-key': '"; DROP TABLE client_keys; --' } }),
      fetch(`${gw.baseURL}/models?key=${encodeURIComponent('a\u0000b')}`),
      fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${'x'.repeat(64 * 1024)}` } }),
    ]
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401)
      bodies.add(await res.text())
    }
    expect(bodies.size).toBe(1)
    expect(JSON.parse([...bodies][0]!).error.code).toBe('invalid_api_key')
    // The operator's log says which key and why; the client's answer above did not.
    const refusals = gw.requestLogs().filter((l) => l.status === 401).map((l) => [l.client ?? null, l.error.message])
    expect(refusals).toContainEqual(['old', 'The key old is expired.'])
    expect(refusals).toContainEqual(['gone', 'The key gone is revoked.'])
    expect(refusals).toContainEqual(['paused', 'The key paused is disabled.'])
    expect(refusals).toContainEqual([null, 'No key was presented.'])
    expect(refusals).toContainEqual([null, 'An unknown key was presented (starting sk-slu).'])
    // A date-only expiry means through that day.
    const today = await createKey({ name: 'today', expires_at: '2026-06-15' })
    expect((await call(today.key)).status).toBe(200)
  })

  test('a revoke from the admin API or from the CLI takes effect without a restart', async () => {
    const viaApi = await createKey({ name: 'api-revoke' })
    expect((await call(viaApi.key)).status).toBe(200)
    await fetch(`${gw.url}/admin/api/keys/${viaApi.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } })
    expect((await call(viaApi.key)).status).toBe(401)

    const viaCli = await createKey({ name: 'cli-revoke' })
    expect((await call(viaCli.key)).status).toBe(200)
    const out: string[] = []
    const code = await runCli(['keys', 'revoke', 'cli-revoke', '--config', gw.configPath, '--db', `file:${join(gw.dir, 'test.db')}`], { write: (s: string) => out.push(s) }, { write: (s: string) => out.push(s) })
    expect(code).toBe(0)
    const revokedAt = Date.now()
    while ((await call(viaCli.key)).status !== 401) {
      expect(Date.now() - revokedAt).toBeLessThan(1000)
      await Bun.sleep(20)
    }
  })

  test('a key created with the CLI works on the running server', async () => {
    const out: string[] = []
    const code = await runCli(
      ['keys', 'create', '--name', 'from-cli', '--rpm', '100', '--models', 'mock/*', '--db', `file:${join(gw.dir, 'test.db')}`, '--config', gw.configPath],
      { write: (s: string) => out.push(s) },
      { write: (s: string) => out.push(s) },
    )
    expect(code).toBe(0)
    const secret = out.join('').split('\n').find((l) => l.startsWith('sk-sluice-'))!
    expect(secret).toStartWith('sk-sluice-')
    const started = Date.now()
    while ((await call(secret)).status !== 200) {
      expect(Date.now() - started).toBeLessThan(1000)
      await Bun.sleep(20)
    }
    const list: string[] = []
    await runCli(['keys', 'list', '--db', `file:${join(gw.dir, 'test.db')}`, '--config', gw.configPath], { write: (s: string) => list.push(s) }, { write() {} })
    expect(list.join('')).toMatch(/from-cli\s+sk-sluice-\S+\s+active.*100 rpm; models mock\/\*/)
    expect(list.join('')).not.toContain(secret)
  })

  test('the model allowlist: patterns allow, others are 403, the model list and aliases follow it', async () => {
    const key = await createKey({ name: 'mock-only', models: ['mock/*'] })
    expect((await call(key.key, { model: 'mock/mock-model' })).status).toBe(200)
    // A bare id is allowed when the provider serving it is.
    expect((await call(key.key, { model: 'mock-model' })).status).toBe(200)
    expect((await call(key.key, { model: 'm' })).status).toBe(403)
    const denied = await call(key.key, { model: 'other/m' })
    expect(denied.status).toBe(403)
    expect(((await denied.json()) as any).error.type).toBe('permission_error')
    // The alias may be used through the target the key may use.
    const viaAlias = await call(key.key, { model: 'either' })
    expect(viaAlias.status).toBe(200)
    expect(viaAlias.headers.get('x-sluice-provider')).toBe('mock')
    const models: any = await (await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${key.key}` } })).json()
    expect(models.data.map((m: any) => m.id)).toEqual(['mock-model'])
  })

  test('requests per minute, measured on a clock the test moves', async () => {
    const key = await createKey({ name: 'rpm', rpm: 3 })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await call(key.key)).status)
    expect(statuses).toEqual([200, 200, 200, 429])
    const limited = await call(key.key)
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('3')
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(Number(limited.headers.get('retry-after'))).toBe(20)
    clock += 20_000
    const again = await call(key.key)
    expect(again.status).toBe(200)
    expect(again.headers.get('x-ratelimit-remaining-requests')).toBe('0')
    clock += 60_000
    expect((await call(key.key)).headers.get('x-ratelimit-remaining-requests')).toBe('2')
  })

  test('tokens per minute count the usage the upstream reported', async () => {
    const key = await createKey({ name: 'tpm', tpm: 30 })
    const first = await call(key.key)
    expect(first.status).toBe(200)
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('30')
    // The upstream reported 18 tokens; the next estimate no longer fits in the minute.
    const second = await call(key.key)
    expect(second.status).toBe(429)
    expect(((await second.json()) as any).error.message).toContain('tokens')
    clock += 60_000
    const third = await call(key.key)
    expect(third.status).toBe(200)
  })

  test('concurrent requests beyond max_concurrent are refused', async () => {
    const key = await createKey({ name: 'conc', max_concurrent: 2 })
    mock.handler = async (_req, body) => {
      await Bun.sleep(200)
      return defaultChat(body)
    }
    const statuses = (await Promise.all(Array.from({ length: 5 }, () => call(key.key)))).map((r) => r.status).sort()
    mock.handler = null
    expect(statuses).toEqual([200, 200, 429, 429, 429])
    expect((await call(key.key)).status).toBe(200)
  })

  test('100 parallel requests against a request quota of 10 let exactly 10 through', async () => {
    const key = await createKey({ name: 'quota-race', quota: { period: 'day', requests: 10 } })
    const statuses = (await Promise.all(Array.from({ length: 100 }, () => call(key.key)))).map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)
    expect(statuses.filter((s) => s === 429)).toHaveLength(90)
  })

  test('a daily quota resets at its configured time in its time zone', async () => {
    // 10:00 UTC is 12:00 in Berlin (summer); the period resets at 13:00 Berlin time.
    const key = await createKey({ name: 'daily', quota: { period: 'day', requests: 2, reset_time: '13:00', timezone: 'Europe/Berlin' } })
    expect((await call(key.key)).status).toBe(200)
    expect((await call(key.key)).status).toBe(200)
    const over = await call(key.key)
    expect(over.status).toBe(429)
    const json: any = await over.json()
    expect(json.error.type).toBe('insufficient_quota')
    const resetIn = Number(over.headers.get('retry-after'))
    expect(resetIn).toBeGreaterThan(0)
    expect(resetIn).toBeLessThanOrEqual(3600)
    clock += resetIn * 1000
    expect((await call(key.key)).status).toBe(200)
    const view: any = await (await fetch(`${gw.url}/admin/api/keys/${key.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
    expect(view.usage.requests).toBe(1)
  })

  test('a spending budget stops the key once the priced usage reaches it', async () => {
    // 18 tokens at $100,000 per million: $1.80 a request.
    const key = await createKey({ name: 'budget', quota: { period: 'month', budget_usd: 3 } })
    expect((await call(key.key, { model: 'mock/mock-model' })).status).toBe(200)
    expect((await call(key.key, { model: 'mock/mock-model' })).status).toBe(200)
    const over = await call(key.key, { model: 'mock/mock-model' })
    expect(over.status).toBe(429)
    expect(((await over.json()) as any).error.message).toContain('budget of $3')
    const view: any = await (await fetch(`${gw.url}/admin/api/keys/${key.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
    expect(view.usage.cost_usd).toBeCloseTo(3.6, 5)
  })

  test('allowed IPs, with X-Forwarded-For believed only from a trusted proxy', async () => {
    const key = await createKey({ name: 'office', ips: ['10.0.0.0/8'] })
    expect((await call(key.key)).status).toBe(403)
    // The test connects from 127.0.0.1, which this gateway trusts as a proxy.
    expect((await call(key.key, {}, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(200)
    expect((await call(key.key, {}, { 'x-forwarded-for': '10.1.2.3, 192.168.1.1' })).status).toBe(403)
  })

  test('invalid admin input is a 400 naming the field', async () => {
    const res = await fetch(`${gw.url}/admin/api/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', rpm: 'fast' }),
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as any).error.message).toContain('rpm')
    const tz = await fetch(`${gw.url}/admin/api/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', quota: { period: 'day', requests: 5, timezone: 'Mars/Base' } }),
    })
    expect(tz.status).toBe(400)
    expect(((await tz.json()) as any).error.message).toContain('quota.timezone')
  })

  test('every admin route needs the admin token', async () => {
    for (const [method, path] of [['GET', '/keys'], ['POST', '/keys'], ['GET', '/keys/x'], ['PATCH', '/keys/x'], ['DELETE', '/keys/x']]) {
      const res = await fetch(`${gw.url}/admin/api${path}`, { method, headers: { authorization: 'Bearer nope' } })
      expect(res.status).toBe(401)
    }
  })

  test('the database never holds a client key in plaintext', async () => {
    const key = await createKey({ name: 'plaintext-check' })
    const raw = readdirSync(gw.dir).filter((f) => f.startsWith('test.db')).map((f) => readFileSync(join(gw.dir, f)).toString('latin1')).join('')
    expect(raw).not.toContain(key.key)
    expect(raw).toContain(new Bun.CryptoHasher('sha256').update(key.key).digest('hex'))
  })
})

describe('admin API docs', () => {
  test('are off by default and served as OpenAPI JSON when admin.docs is on', async () => {
    expect((await fetch(`${gw.url}/admin/docs/json`)).status).toBe(404)
    const docs = await startGateway({ admin: { token: ADMIN, docs: true }, providers: [] })
    const spec: any = await (await fetch(`${docs.url}/admin/docs/json`)).json()
    expect(spec.openapi).toStartWith('3.')
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/admin/api/keys', '/admin/api/keys/{id}']))
    expect(spec.paths['/admin/api/keys'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('rpm')
    await docs.stop()
  })
})

describe('per-address limit', () => {
  test('limits.ip_rpm applies to every request from an address, before and whatever the key', async () => {
    const limited = await startGateway({
      limits: { ip_rpm: 3 },
      auth: { keys: [{ name: 'a', key: 'sk-ip-key-aaaaaaaaaaaa' }, { name: 'b', key: 'sk-ip-key-bbbbbbbbbbbb' }] },
      providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['mock-model'] }],
    })
    const statuses: number[] = []
    for (const key of ['sk-ip-key-aaaaaaaaaaaa', 'sk-ip-key-bbbbbbbbbbbb', 'wrong', 'sk-ip-key-aaaaaaaaaaaa']) {
      statuses.push((await fetch(`${limited.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } })).status)
    }
    expect(statuses).toEqual([200, 200, 401, 429])
    await limited.stop()
  })
})
