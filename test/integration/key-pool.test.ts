import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { fingerprint } from '../../src/lib/crypto.ts'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { admin, chat } from '../helpers/http.ts'
import { keyOf, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'admin-token-for-pool-tests'
let mock: MockUpstream

beforeAll(() => {
  mock = startMockUpstream()
})
afterAll(() => mock.stop())

const provider = (name: string, keys: string[], extra: object = {}) => mock.provider(name, keys, { models: ['mock-model'], ...extra })

const config = (providers: object[], extra: object = {}) => ({
  admin: { token: ADMIN },
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
  retry: { initial_delay_ms: 10, max_delay_ms: 50 },
  providers,
  ...extra,
})

async function keysUsed(gw: TestGateway, n: number, model = 'mock-model'): Promise<string[]> {
  const before = mock.requests.length
  for (let i = 0; i < n; i++) expect((await chat(gw.baseURL, { model })).status).toBe(200)
  return mock.requests.slice(before).map(keyOf)
}

async function keyStates(gw: TestGateway, name: string): Promise<any[]> {
  const body: any = await (await admin(gw.url, ADMIN, '/providers')).json()
  return body.data.find((p: any) => p.name === name).keys_detail
}

describe('a pool of upstream keys', () => {
  test('requests spread over the keys, least recently used first', async () => {
    const gw = await startGateway(config([provider('p', ['k-ok-1', 'k-ok-2', 'k-ok-3'])]))
    expect(await keysUsed(gw, 6)).toEqual(['k-ok-1', 'k-ok-2', 'k-ok-3', 'k-ok-1', 'k-ok-2', 'k-ok-3'])
    await gw.stop()
  })

  test('a 429 cools the key down for the retry-after time and the request goes to another key at once', async () => {
    const gw = await startGateway(config([provider('p', ['k-429-400', 'k-ok-2'])]))
    const res = await chat(gw.baseURL, { model: 'mock-model' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-attempts')).toBe('2')
    const cooling = (await keyStates(gw, 'p')).find((k) => k.fingerprint === fingerprint('k-429-400'))
    expect(cooling.state).toBe('cooling')
    expect(Date.parse(cooling.cooling_until) - Date.now()).toBeGreaterThan(100)
    // While it rests, only the other key is used.
    expect(await keysUsed(gw, 2)).toEqual(['k-ok-2', 'k-ok-2'])
    // Then it comes back.
    await eventually(async () => (await keyStates(gw, 'p')).every((k) => k.state === 'usable'), 2000)
    await gw.stop()
  })

  test('a key the upstream reports as exhausted (remaining 0) is skipped until its reset', async () => {
    const gw = await startGateway(config([provider('p', ['k-exhausted-1', 'k-ok-2'])]))
    expect(await keysUsed(gw, 3)).toEqual(['k-exhausted-1', 'k-ok-2', 'k-ok-2'])
    const state = (await keyStates(gw, 'p')).find((k) => k.fingerprint === fingerprint('k-exhausted-1'))
    expect(state.requests).toMatchObject({ limit: 100, remaining: 0 })
    await gw.stop()
  })

  test('when every key is cooling down the client gets 429 with the earliest Retry-After, not a 500', async () => {
    const gw = await startGateway(config([provider('p', ['k-429-9000', 'k-429-3000'])]))
    const res = await chat(gw.baseURL, { model: 'mock-model' })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('3')
    expect(Number(res.headers.get('retry-after-ms'))).toBeGreaterThan(2500)
    expect(res.headers.get('x-should-retry')).toBe('true')
    const json: any = await res.json()
    expect(json.error.type).toBe('rate_limit_error')
    await gw.stop()
  })

  test('out of credit disables the key like a 401 does, and the request is served by another', async () => {
    const gw = await startGateway(config([provider('p', ['k-quota-1', 'k-401-2', 'k-ok-3'])]))
    const res = await chat(gw.baseURL, { model: 'mock-model' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-attempts')).toBe('3')
    const states = await keyStates(gw, 'p')
    expect(states.map((k) => k.state)).toEqual(['disabled', 'disabled', 'usable'])
    expect(states[0].disabled.reason).toContain('quota')
    await gw.stop()
  })

  test('when every key was retired for its quota, the client is told what the provider said, now and later', async () => {
    const gw = await startGateway(config([provider('p', ['k-quota-1', 'k-quota-2'])]))
    for (let i = 0; i < 2; i++) {
      // The first request retires both keys; the second finds them retired already.
      const res = await chat(gw.baseURL, { model: 'mock-model' })
      expect(res.status).toBe(503)
      const json: any = await res.json()
      expect(json.error.code).toBe('no_usable_upstream')
      expect(json.error.message).toContain('You exceeded your current quota')
    }
    await gw.stop()
  })

  test('disabled keys stay disabled across a restart until an admin re-enables them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-restart-'))
    const cfg = config([provider('p', ['k-401-a', 'k-ok-b'])])
    let gw = await startGateway(cfg, {}, { dir })
    expect((await chat(gw.baseURL, { model: 'mock-model' })).status).toBe(200)
    await gw.stop()

    gw = await startGateway(cfg, {}, { dir })
    const fp = fingerprint('k-401-a')
    let state = (await keyStates(gw, 'p')).find((k) => k.fingerprint === fp)
    expect(state.state).toBe('disabled')
    expect(state.disabled.reason).toContain('401')
    expect(await keysUsed(gw, 2)).toEqual(['k-ok-b', 'k-ok-b'])
    const health: any = await (await fetch(`${gw.url}/health`)).json()
    expect(health.providers[0].keys).toEqual({ total: 2, usable: 1, cooling: 0, disabled: 1 })

    expect((await admin(gw.url, ADMIN, `/providers/p/keys/${fp}/enable`, 'POST')).status).toBe(200)
    expect((await admin(gw.url, ADMIN, `/providers/p/keys/fp_nope/enable`, 'POST')).status).toBe(404)
    await gw.stop()

    gw = await startGateway(cfg, {}, { dir })
    state = (await keyStates(gw, 'p')).find((k) => k.fingerprint === fp)
    expect(state.state).toBe('usable')
    await gw.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('a key changed in the config is a new key: the old one being disabled does not matter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-rekey-'))
    let gw = await startGateway(config([provider('p', ['k-401-old'])]), {}, { dir })
    expect((await chat(gw.baseURL, { model: 'mock-model' })).status).toBe(503)
    await gw.stop()
    gw = await startGateway(config([provider('p', ['k-ok-new'])]), {}, { dir })
    expect((await chat(gw.baseURL, { model: 'mock-model' })).status).toBe(200)
    await gw.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('the admin API needs the admin token', async () => {
    const gw = await startGateway(config([provider('p', ['k-ok-1'])]))
    for (const [path, method] of [['/providers', 'GET'], ['/reload', 'POST'], ['/providers/p/keys/x/enable', 'POST']] as const) {
      expect((await admin(gw.url, 'wrong', path, method)).status).toBe(401)
      expect((await fetch(`${gw.url}/admin/api${path}`, { method })).status).toBe(401)
      expect((await admin(gw.url, CLIENT_KEY, path, method)).status).toBe(401)
    }
    await gw.stop()
  })

  test('5xx is retried with backoff on another key; the SDK sees one success', async () => {
    const gw = await startGateway(config([provider('p', ['k-500-a', 'k-ok-b'])]))
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const { data, response } = await client.chat.completions
      .create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
    expect(data.choices[0]!.message.content).toBe('Hello world')
    expect(response.headers.get('x-sluice-attempts')).toBe('2')
    await gw.stop()
  })

  test('an upstream that stalls before its first byte is abandoned after first_byte_ms and retried elsewhere', async () => {
    const gw = await startGateway(config([provider('p', ['k-stall-1', 'k-ok-2'], { timeouts: { first_byte_ms: 200 } })]))
    const started = Date.now()
    const res = await chat(gw.baseURL, { model: 'mock-model' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-sluice-attempts')).toBe('2')
    expect(Date.now() - started).toBeLessThan(2000)
    await gw.stop()
  })

  test('retries stop at retry.max_attempts and tell the SDK not to retry on top', async () => {
    const gw = await startGateway(config([provider('p', ['k-500-a'])], { retry: { max_attempts: 3, initial_delay_ms: 5, max_delay_ms: 10 } }))
    const before = mock.requests.length
    const res = await chat(gw.baseURL, { model: 'mock-model' })
    expect(res.status).toBe(502)
    expect(res.headers.get('x-should-retry')).toBe('false')
    expect(res.headers.get('x-sluice-attempts')).toBe('3')
    expect(res.headers.get('x-sluice-provider')).toBe('p')
    expect(mock.requests.length - before).toBe(3)
    await gw.stop()
  })
})
