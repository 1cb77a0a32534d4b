import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import type { Browser, Page } from 'playwright-core'
import { fingerprint } from '../../src/lib/crypto.ts'
import { artifactPath, chromiumPath, launchBrowser } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Code in page.evaluate / waitForFunction runs in the browser, where document exists.
declare const document: any
declare const getComputedStyle: any

const ADMIN = 'dashboard-admin-token-123'
// CI installs Chromium and must run this; elsewhere a missing browser skips it with a note.
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard end-to-end tests skipped: no Chromium (apt-get install chromium)')

let mock: MockUpstream
let gw: TestGateway
let browser: Browser
let page: Page

const sdk = (key = CLIENT_KEY) => new OpenAI({ apiKey: key, baseURL: gw.baseURL, maxRetries: 0 })
const ask = (key?: string) => sdk(key).chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })

async function statNumber(id: string): Promise<number> {
  const text = await page.getByTestId(`stat-${id}`).textContent()
  return Number((text ?? '').replace(/[^\d]/g, ''))
}

describe.if(run)('the dashboard in headless Chromium', () => {
  beforeAll(async () => {
    mock = startMockUpstream()
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-1', 'k-401-2'], models: ['mock-model'] }],
    })
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('dialog', (d) => void d.accept())
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    mock?.stop()
  })

  test('login: a wrong token is refused; the right one opens an HttpOnly, SameSite=Strict session', async () => {
    await page.goto(`${gw.url}/dashboard`)
    // The login says where the token comes from and how to replace a lost one.
    expect(await page.getByTestId('login-hint').textContent()).toContain('SLUICE_ADMIN_TOKEN')
    await page.locator('#token').fill('not-the-token')
    await page.getByTestId('login').click()
    await expect(page.locator('#login-error')).toBeTruthy()
    await page.waitForFunction(() => document.querySelector('#login-error')!.textContent!.length > 0)
    await page.locator('#token').fill(ADMIN)
    await page.getByTestId('login').click()
    await page.getByTestId('stat-requests').waitFor()
    const cookie = (await page.context().cookies()).find((c) => c.name === 'sluice_session')!
    expect(cookie.httpOnly).toBe(true)
    expect(cookie.sameSite).toBe('Strict')
    // The session alone does not let a script change anything without the CSRF header.
    const status = await page.evaluate(async () => (await fetch('/admin/api/keys', { method: 'POST', body: '{"name":"x"}', headers: { 'content-type': 'application/json' } })).status)
    expect(status).toBe(401)
    await page.screenshot({ path: artifactPath('dashboard-overview-empty.png') })
  })

  test('the request count on the overview follows the requests sent', async () => {
    const before = await statNumber('requests')
    await Promise.all([ask(), ask(), ask()])
    const deadline = Date.now() + 10_000
    let after = before
    while (after < before + 3 && Date.now() < deadline) {
      await page.locator('#window').selectOption('1h')
      await Bun.sleep(300)
      after = await statNumber('requests')
    }
    expect(after).toBeGreaterThanOrEqual(before + 3)
    expect(await page.getByTestId('stat-tokens').textContent()).toContain('tok')
    await page.screenshot({ path: artifactPath('dashboard-overview.png') })
  })

  test('create a key, see its secret once, use it, revoke it', async () => {
    await page.locator('#tabs button[data-tab=keys]').click()
    await page.getByTestId('key-name').fill('e2e-friend')
    await page.getByTestId('create-key').click()
    await page.waitForFunction(() => document.querySelector('[data-testid=secret]')?.textContent?.startsWith('sk-sluice-'))
    const secret = (await page.getByTestId('secret').textContent())!
    expect(secret).toStartWith('sk-sluice-')
    await page.screenshot({ path: artifactPath('dashboard-keys-created.png') })
    expect((await ask(secret)).choices[0]!.message.content).toBe('Hello world')
    await page.getByTestId('keyrow-e2e-friend').waitFor()
    await page.getByTestId('revoke-e2e-friend').click()
    await page.waitForFunction(() => document.querySelector('[data-testid="keyrow-e2e-friend"]')?.textContent?.includes('revoked'))
    let status = 0
    try {
      await ask(secret)
    } catch (err) {
      status = (err as any).status
    }
    expect(status).toBe(401)
    // The list never shows a secret.
    expect(await page.locator('#keys').textContent()).not.toContain(secret)
    await page.screenshot({ path: artifactPath('dashboard-keys.png') })
  })

  test('a disabled upstream key shows why, and can be re-enabled', async () => {
    // The pool's second key answers 401 and is disabled on first use.
    await ask()
    await ask()
    await page.locator('#tabs button[data-tab=providers]').click()
    const row = page.getByTestId(`key-${fingerprint('k-401-2')}`)
    await row.waitFor()
    await page.waitForFunction((fp) => document.querySelector(`[data-testid="key-${fp}"]`)?.textContent?.includes('disabled'), fingerprint('k-401-2'))
    expect(await row.textContent()).toContain('401')
    await page.screenshot({ path: artifactPath('dashboard-providers-disabled.png') })
    await row.getByRole('button', { name: 'Re-enable' }).click()
    await page.waitForFunction((fp) => document.querySelector(`[data-testid="key-${fp}"]`)?.textContent?.includes('usable'), fingerprint('k-401-2'))
    await page.screenshot({ path: artifactPath('dashboard-providers.png') })
  })

  test('usage by key and the request log, with a live tail', async () => {
    await page.locator('#tabs button[data-tab=usage]').click()
    await page.waitForFunction(() => document.querySelectorAll('#usage tr').length > 1)
    expect(await page.locator('#usage').textContent()).toContain('tester')
    await page.screenshot({ path: artifactPath('dashboard-usage.png') })

    await page.locator('#tabs button[data-tab=requests]').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length > 0)
    await page.getByTestId('live').check()
    await Bun.sleep(300)
    const rows = await page.getByTestId('request-row').count()
    await sdk().chat.completions.create({ model: 'no-such-model', messages: [] }).catch(() => {})
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=request-row]').length > n, rows)
    expect(await page.locator('#requests').textContent()).toContain('404')
    await page.screenshot({ path: artifactPath('dashboard-requests.png') })
  })

  test('it fits a phone screen and follows dark mode', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', storageState: await page.context().storageState() })
    const p = await phone.newPage()
    await p.goto(`${gw.url}/dashboard#overview`)
    await p.getByTestId('stat-requests').waitFor()
    const width = await p.evaluate(() => document.documentElement.scrollWidth)
    expect(width).toBeLessThanOrEqual(390)
    const background = await p.evaluate(() => getComputedStyle(document.body).backgroundColor)
    expect(background).toBe('rgb(17, 19, 22)')
    await p.screenshot({ path: artifactPath('dashboard-phone-dark.png'), fullPage: true })
    await phone.close()
  })

  test('logout ends the session', async () => {
    await page.getByTestId('logout').click()
    await page.locator('#token').waitFor()
    const status = await page.evaluate(async () => (await fetch('/admin/api/keys')).status)
    expect(status).toBe(401)
  })

  test('password guessing at the login is throttled', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${gw.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: `guess-${i}` }) })
      statuses.push(res.status)
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true)
  })

  test('the page is light and loads nothing from elsewhere', async () => {
    const res = await fetch(`${gw.url}/dashboard`)
    const html = await res.text()
    expect(html.length).toBeLessThan(60_000)
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/)
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
  })
})
