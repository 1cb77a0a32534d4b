import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createClient } from '@libsql/client'
import OpenAI from 'openai'
import { runCli } from '../../src/cli/index.ts'
import { SecretBox } from '../../src/lib/seal.ts'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startOAuthService } from '../helpers/mock-adapter-services.ts'

const EXAMPLE = resolve(import.meta.dir, '../../examples/adapters/device-code-oauth.ts')


let oauth: ReturnType<typeof startOAuthService>
let dir: string
let configPath: string
const ADMIN = 'admin-token-for-account-tests'

beforeAll(() => {
  oauth = startOAuthService()
  dir = mkdtempSync(join(tmpdir(), 'sluice-accounts-'))
})
afterAll(() => {
  oauth.stop()
  rmSync(dir, { recursive: true, force: true })
})

const configText = () => JSON.stringify({
  admin: { token: ADMIN },
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
  providers: [{ name: 'oauth', type: 'module', path: EXAMPLE, options: { auth_url: oauth.url, api_url: oauth.url, client_id: 'sluice-test' }, allow_private: true, models: ['oauth-large'], keys: [] }],
})

/** The CLI, in process, with the test's config and database. */
async function cli(args: string[], onLine?: (line: string) => void): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli([...args, '--config', configPath, '--db', `file:${join(dir, 'test.db')}`], { write: (t: string) => { out += t; for (const line of t.split('\n')) if (line) onLine?.(line) } }, { write: (t: string) => void (err += t) })
  return { code, out, err }
}

const openCredentials = async (id: string) => {
  const db = createClient({ url: `file:${join(dir, 'test.db')}` })
  const row = (await db.execute({ sql: 'SELECT credentials FROM accounts WHERE id = ?', args: [id] })).rows[0]!
  db.close()
  return JSON.parse(SecretBox.fromText(readFileSync(join(dir, 'sluice.key'), 'utf8'), 'key').open(String(row.credentials)))
}

describe('accounts: device-code login, refresh with rotation, invalid_grant', () => {
  let gw: TestGateway
  let accountId = ''

  test('sluice accounts login runs the device-code flow: the code is printed, approved, the account stored sealed', async () => {
    configPath = join(dir, 'sluice.yaml')
    writeFileSync(configPath, configText())
    const result = await cli(['accounts', 'login', 'oauth', '--label', 'alice'], (line) => {
      const code = /enter the code (\S+)/.exec(line)?.[1]
      if (code) void fetch(`${oauth.url}/approve?user_code=${code}`)
    })
    expect(result.err).toBe('')
    expect(result.code).toBe(0)
    expect(result.out).toMatch(/^Open http:\/\/127\.0\.0\.1:\d+\/activate and enter the code CODE-\d+\nlogged in: stored account acct_\w+ for oauth \(alice\)\n$/)
    accountId = /stored account (acct_\w+)/.exec(result.out)![1]!
    const listed = await cli(['accounts', 'list'])
    expect(listed.out).toContain(accountId)
    expect(listed.out).toContain('alice')
    expect(listed.out).not.toContain('access-')
    // Sealed in the database: no token in the file.
    const raw = readFileSync(join(dir, 'test.db'))
    expect(raw.includes(Buffer.from('refresh-'))).toBe(false)
    expect(raw.includes(Buffer.from('access-'))).toBe(false)
    expect((await openCredentials(accountId)).refresh_token).toStartWith('refresh-')
  })

  test('the account serves requests; the adapter maps its SSE to chat deltas', async () => {
    gw = await startGateway(configText(), {}, { dir })
    const stream = await new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const text: string[] = []
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) text.push(chunk.choices[0].delta.content)
    expect(text).toEqual(['Hi', ' from OAuth'])
    const { data } = (await (await fetch(`${gw.url}/admin/api/accounts`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any
    expect(data).toEqual([expect.objectContaining({ id: accountId, provider: 'oauth', label: 'alice', enabled: true })])
    expect(JSON.stringify(data)).not.toMatch(/access-|refresh-/)
    // The quota probe, run while someone looks at the providers.
    const providers = async () => ((await (await fetch(`${gw.url}/admin/api/providers`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any).data
    await eventually(async () => (await providers())[0].keys_detail[0].account?.quota?.quota?.remaining === 42)
    const key = (await providers())[0].keys_detail[0]
    expect(key).toMatchObject({ hint: 'alice', account: { id: accountId, label: 'alice', quota: { quota: { remaining: 42, limit: 100 }, error: null } } })
    expect(JSON.stringify(await providers())).not.toMatch(/access-|refresh-/)
  })

  test('100 concurrent requests on an expired token cause exactly one refresh; the rotated token is saved before use', async () => {
    const before = await openCredentials(accountId)
    // The upstream forgets every access token: the next requests all meet a refused token.
    oauth.state.access.clear()
    const calls = oauth.state.refreshCalls
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const answers = await Promise.all(Array.from({ length: 100 }, () => client.chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] })))
    expect(answers.every((a) => a.choices[0]!.message.content === 'Hi from OAuth')).toBe(true)
    expect(oauth.state.refreshCalls - calls).toBe(1)
    const after = await openCredentials(accountId)
    expect(after.refresh_token).not.toBe(before.refresh_token)
    // The old refresh token is spent upstream; only the saved one works, and it is in the database.
    expect(oauth.state.refresh.has(before.refresh_token)).toBe(false)
    expect(oauth.state.refresh.has(after.refresh_token)).toBe(true)
    expect(oauth.state.served.at(-1)).toBe(after.access_token)
  })

  test('a token about to expire is refreshed ahead of use; sluice accounts test refreshes and shows the quota', async () => {
    oauth.state.ttlS = 30 // within the refresh-ahead window
    const tested = await cli(['accounts', 'test', accountId])
    expect(tested.code).toBe(0)
    expect(tested.out).toContain('refreshed')
    expect(tested.out).toContain('"remaining":42')
    expect((await openCredentials(accountId)).expires_at).toBeLessThan(Date.now() + 60_000)
    // The running gateway follows the store's version within a second.
    await Bun.sleep(1200)
    const calls = oauth.state.refreshCalls
    await new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] })
    expect(oauth.state.refreshCalls - calls).toBe(1)
    oauth.state.ttlS = 3600
  })

  test('a refresh that fails for now rests the account (429, retry later) without disabling it; it serves again once the server is back', async () => {
    oauth.state.failRefresh = 'server_error'
    oauth.state.access.clear()
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] }) })
    // The only account rests: all keys cooling, the client is told when to come back.
    expect(res.status).toBe(429)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await cli(['accounts', 'list'])).out).toContain('active')
    const { data } = (await (await fetch(`${gw.url}/admin/api/providers`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any
    expect(data[0].keys_detail[0].state).toBe('cooling')
    oauth.state.failRefresh = null
    // Re-enabled by hand rather than waiting out the 30 s rest.
    const fp = data[0].keys_detail[0].fingerprint
    expect((await fetch(`${gw.url}/admin/api/providers/oauth/keys/${fp}/enable`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200)
    const ok = await new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] })
    expect(ok.choices[0]!.message.content).toBe('Hi from OAuth')
  })

  test('invalid_grant disables the account with the reason, which accounts list shows; remove deletes it', async () => {
    oauth.state.failRefresh = 'invalid_grant'
    oauth.state.access.clear()
    const res = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] }) })
    expect(res.status).toBeGreaterThanOrEqual(500)
    const listed = await cli(['accounts', 'list'])
    expect(listed.out).toContain('disabled: refresh refused: invalid_grant')
    expect(gw.logs.join('\n')).toContain('account disabled')
    oauth.state.failRefresh = null
    expect((await cli(['accounts', 'remove', accountId])).out).toBe(`removed account ${accountId}\n`)
    expect((await cli(['accounts', 'list'])).out).toBe('no accounts\n')
    await gw.stop()
  })

  test('import and the admin API: credentials brought in, never shown; bad input is refused clearly', async () => {
    gw = await startGateway(configText(), {}, { dir })
    try {
      const admin = (path: string, init: RequestInit = {}) => fetch(`${gw.url}/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } })
      const token = await (await fetch(`${oauth.url}/device/code`, { method: 'POST', body: '{}' })).json() as any
      await fetch(`${oauth.url}/approve?user_code=${token.user_code}`)
      const issued = await (await fetch(`${oauth.url}/token`, { method: 'POST', body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: token.device_code }) })).json() as any
      const file = join(dir, 'creds.json')
      writeFileSync(file, JSON.stringify({ access_token: issued.access_token, refresh_token: issued.refresh_token, expires_at: Date.now() + 3_600_000 }))
      const imported = await cli(['accounts', 'import', 'oauth', file, '--label', 'bob'])
      expect(imported.code).toBe(0)
      await eventually(async () => {
        const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oauth-large', messages: [{ role: 'user', content: 'hi' }] }) })
        return r.status === 200
      })
      const viaApi = await admin('/accounts', { method: 'POST', body: JSON.stringify({ provider: 'oauth', label: 'carol', credentials: { access_token: 'x', refresh_token: 'y' } }) })
      expect(viaApi.status).toBe(201)
      const created = (await viaApi.json()) as any
      expect(JSON.stringify(created)).not.toContain('refresh_token')
      const tested = (await (await admin(`/accounts/${created.id}/test`, { method: 'POST' })).json()) as any
      expect(tested).toMatchObject({ ok: false })
      expect(tested.error).toContain('invalid_grant')
      expect((await admin(`/accounts/${created.id}`, { method: 'DELETE' })).status).toBe(200)
      const wrong = await admin('/accounts', { method: 'POST', body: JSON.stringify({ provider: 'nope', credentials: {} }) })
      expect(wrong.status).toBe(400)
      expect(((await wrong.json()) as any).error.message).toContain('no provider named nope')
      expect((await cli(['accounts', 'login', 'nope'])).err).toContain('no provider named nope')
      expect((await cli(['accounts', 'import', 'oauth', join(dir, 'missing.json')])).err).toContain('not a JSON file of credentials')
    } finally {
      await gw.stop()
    }
  })

  test('a loopback PKCE login: the callback on 127.0.0.1 gets the code, the verifier is checked, the account stored', async () => {
    const file = join(dir, 'pkce.ts')
    writeFileSync(file, `export default (sluice) => ({
  apiVersion: 1,
  protocol: 'openai-chat',
  async handle(request) { return sluice.chat.completion({ model: request.model, text: 'ok' }) },
  async login(ctx) {
    const { verifier, challenge } = sluice.pkce()
    const state = sluice.id()
    const callback = await ctx.loopback()
    ctx.say(ctx.options.auth_url + '/authorize?redirect_uri=' + encodeURIComponent(callback.redirectUri) + '&code_challenge=' + challenge + '&state=' + state)
    const query = await callback.wait()
    if (query.get('state') !== state) throw new sluice.AccountError('state mismatch', { permanent: true })
    const res = await ctx.fetch(ctx.options.auth_url + '/token', { method: 'POST', body: JSON.stringify({ grant_type: 'authorization_code', code: query.get('code'), code_verifier: verifier }) })
    const token = await sluice.read.json(res, 65536)
    if (!res.ok) throw new sluice.AccountError('login refused: ' + token.error, { permanent: true })
    return { credentials: { access_token: token.access_token, refresh_token: token.refresh_token, expires_at: ctx.now() + token.expires_in * 1000 }, label: 'browser' }
  },
})
`)
    const previous = configPath
    configPath = join(dir, 'pkce.yaml')
    writeFileSync(configPath, JSON.stringify({ providers: [{ name: 'pkce', type: 'module', path: file, options: { auth_url: oauth.url }, allow_private: true, models: ['m'], keys: [] }] }))
    try {
      const result = await cli(['accounts', 'login', 'pkce'], (line) => {
        // The person opens the printed URL in a browser: it follows the redirect to the callback.
        if (line.includes('/authorize?')) void fetch(line)
      })
      expect(result.err).toBe('')
      expect(result.out).toMatch(/\/authorize\?redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback&code_challenge=[\w-]{43}&state=\w+\nlogged in: stored account acct_\w+ for pkce \(browser\)\n$/)
      const id = /stored account (acct_\w+)/.exec(result.out)![1]!
      expect((await openCredentials(id)).access_token).toStartWith('access-')
    } finally {
      configPath = previous
    }
  })
})
