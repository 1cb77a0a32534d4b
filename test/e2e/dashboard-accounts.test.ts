import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { chromiumPath, launchBrowser } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startOAuthService } from '../helpers/mock-adapter-services.ts'

declare const document: any

const ADMIN = 'dashboard-accounts-admin-token'
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard accounts end-to-end tests skipped: no Chromium (apt-get install chromium)')

let oauth: ReturnType<typeof startOAuthService>
let gw: TestGateway
let browser: Browser
let page: Page
let accountId = ''

describe.if(run)('the dashboard shows accounts of module providers with their quota, and tests them', () => {
  beforeAll(async () => {
    oauth = startOAuthService()
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'oauth', type: 'module', path: resolve(import.meta.dir, '../../examples/adapters/device-code-oauth.ts'), options: { auth_url: oauth.url, api_url: oauth.url, client_id: 'sluice' }, allow_private: true, models: ['oauth-large'], keys: [] }],
    })
    // An account with real tokens from the mock authorization server, brought in through the admin API.
    const start = (await (await fetch(`${oauth.url}/device/code`, { method: 'POST', body: '{}' })).json()) as any
    await fetch(`${oauth.url}/approve?user_code=${start.user_code}`)
    const token = (await (await fetch(`${oauth.url}/token`, { method: 'POST', body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: start.device_code }) })).json()) as any
    const res = await fetch(`${gw.url}/admin/api/accounts`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'oauth', label: 'team-a', credentials: { access_token: token.access_token, refresh_token: token.refresh_token, expires_at: Date.now() + 3_600_000 } }) })
    accountId = ((await res.json()) as any).id
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
    page.context().setDefaultTimeout(12_000)
    await page.goto(`${gw.url}/dashboard`)
    await page.locator('#token').fill(ADMIN)
    await page.getByTestId('login').click()
    await page.locator('#tabs button[data-tab=providers]').click()
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    oauth?.stop()
  })

  test('the account is listed by its label with its quota probe; no token in the page', async () => {
    await page.getByTestId(`quota-${accountId}`).waitFor()
    expect(await page.getByTestId(`quota-${accountId}`).textContent()).toBe('quota: remaining 42, limit 100')
    expect(await page.locator('#providers').textContent()).toContain('team-a')
    const html = await page.content()
    expect(html).not.toMatch(/access-\d|refresh-\d/)
    // A module provider has no model list: no provider-level model test.
    expect(await page.getByTestId('test-provider-oauth').count()).toBe(0)
  })

  test('"test" refreshes the account (saving the rotated token) and shows the quota', async () => {
    const calls = oauth.state.refreshCalls
    await page.getByTestId(`test-account-${accountId}`).click()
    await page.waitForFunction((id) => /the account works/.test(document.querySelector(`[data-testid="test-${id}"]`)?.textContent ?? ''), accountId)
    expect(await page.getByTestId(`test-${accountId}`).textContent()).toBe('the account works, refreshed and saved {"remaining":42,"limit":100}')
    expect(oauth.state.refreshCalls).toBe(calls + 1)
  })

  test('in Chinese', async () => {
    const zh = await (await browser.newContext({ locale: 'zh-CN', storageState: await page.context().storageState() })).newPage()
    await zh.goto(`${gw.url}/dashboard#providers`)
    await zh.getByTestId(`quota-${accountId}`).waitFor()
    expect(await zh.getByTestId(`quota-${accountId}`).textContent()).toBe('配额:remaining 42, limit 100')
    await zh.context().close()
  })
})
