import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { fingerprint } from '../../src/lib/crypto.ts'
import { artifactPath, chromiumPath, contrastRatio, launchBrowser, visibleUiText } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Code in page.evaluate / waitForFunction runs in the browser, where document exists.
declare const document: any
declare const getComputedStyle: any
declare const window: any
declare const Navigator: any
declare const getSelection: any
/** The page's trends chart (a top-level binding of its script). */
declare const chart: any

const ADMIN = 'dashboard-admin-token-123'
/** How long the page is waited for, at most, before a test fails. */
const WAIT_MS = 8_000
// CI installs Chromium and must run this; elsewhere a missing browser skips it with a note.
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard end-to-end tests skipped: no Chromium (apt-get install chromium)')

let mock: MockUpstream
let gw: TestGateway
let browser: Browser
let page: Page

const sdk = (key = CLIENT_KEY) => new OpenAI({ apiKey: key, baseURL: gw.baseURL, maxRetries: 0 })
const ask = (key?: string) => sdk(key).chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })

/** The admin API with the admin token, from the test (not the page). */
async function admin(path: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(`${gw.url}/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers } })
  const body = await res.json()
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`)
  return body
}
const createKey = (body: object) => admin('/keys', { method: 'POST', body: JSON.stringify(body) })

/** Polls until `check` gives a truthy value (the request log is written a moment later). */
async function until<T>(check: () => Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await Bun.sleep(100)
  }
}

/** A new page in its own context, logged in with the main page's session unless `fresh`. */
async function newPage(options: BrowserContextOptions = {}, fresh = false): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-US', ...options, ...(fresh ? {} : { storageState: await page.context().storageState() }) })
  context.setDefaultTimeout(WAIT_MS)
  return context.newPage()
}

/** Latin words left in a page meant to be in Chinese (names of things and units aside). */
async function englishLeftovers(p: Page): Promise<string[]> {
  const allowed = new Set(['sluice', 'ms', 'UTC', 'IP'])
  return (await p.evaluate(visibleUiText)).flatMap((text) => text.match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !allowed.has(w))
}

/**
 * The chart's own data (uPlot's arrays: times in seconds, then one array per series) is what the
 * trends API answers for the same query; polled, since a refresh may land on the next minute.
 */
async function chartShows(p: Page, query: string): Promise<any> {
  let last: { shown: unknown; api: any } | null = null
  try {
    await until(async () => {
      const api = await admin(`/trends?${query}`)
      const shown = await p.evaluate(() => chart.data.map((a: any) => Array.from(a)))
      last = { shown, api }
      return JSON.stringify(shown) === JSON.stringify([api.t.map((x: number) => x / 1000), ...api.series.map((s: any) => s.values)])
    }, 7_000)
  } catch {
    expect(last!.shown).toEqual([last!.api.t.map((x: number) => x / 1000), ...last!.api.series.map((s: any) => s.values)])
  }
  return last!.api
}

/** Text in the UI language the page is in (the rows of a table, say) has arrived. */
const rowsIn = (p: Page, table: string, min = 2) => p.waitForFunction(([sel, n]) => document.querySelectorAll(`${sel} tr`).length >= n, [table, min] as const)

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
      // Bodies are kept, so that the request list can be seen to fetch none.
      logging: { bodies: 'all' },
      providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-1', 'k-401-2'], models: ['mock-model'] }],
    })
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
    // A missing element fails its test in seconds, not at the test's timeout (which closes the browser).
    page.context().setDefaultTimeout(WAIT_MS)
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

  test('trends: a uPlot chart with axes and a legend value on hover; windows, metrics and breakdowns switch; nothing from another host', async () => {
    const p = await newPage({ viewport: { width: 1280, height: 900 } })
    const urls: string[] = []
    p.on('request', (r) => urls.push(r.url()))
    await p.goto(`${gw.url}/dashboard#overview`)
    const canvas = p.locator('#trend canvas')
    await canvas.waitFor()
    const ticks = (axis: 'xTicks' | 'yTicks') => p.evaluate((a) => document.querySelector('#trend').dataset[a] ?? '', axis)
    // The last day by hour: times on the x axis, counts on the y axis.
    expect(await ticks('xTicks')).toMatch(/^\d{2}:\d{2}(\|\d{2}:\d{2})*$/)
    expect(await ticks('yTicks')).toMatch(/\d/)
    const legend = () => p.locator('#trend .u-legend .u-series').allTextContents()
    expect((await legend())[1]).toContain('Requests')
    // Hovering shows the time and the value under the cursor in the legend.
    await p.locator('#trend .u-over').hover({ position: { x: 300, y: 100 } })
    await p.waitForFunction(() => /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(document.querySelector('#trend .u-series .u-value')?.textContent ?? ''))
    expect(await p.locator('#trend .u-series').nth(1).locator('.u-value').textContent()).toMatch(/^[\d,]+ req$/)

    // 30 days by day, per model: the model the requests went to is a series of its own.
    await p.locator('#window').selectOption('30d')
    await p.waitForFunction(() => /^\d{2}-\d{2}/.test(document.querySelector('#trend').dataset.xTicks ?? ''))
    await p.locator('#tby').selectOption('model')
    await p.waitForFunction(() => [...document.querySelectorAll('#trend .u-series .u-label')].some((el: any) => el.textContent === 'mock-model'))
    expect(await p.locator('#trend .u-series .u-label[translate=no]').first().textContent()).toBe('mock-model')
    const perModel = await chartShows(p, 'window=30d&metric=requests&by=model')
    expect(perModel.series[0].values.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(0)
    // The last hour by minute, per provider, in tokens.
    await p.locator('#window').selectOption('1h')
    await p.locator('#tmetric').selectOption('tokens')
    await p.locator('#tby').selectOption('provider')
    await p.waitForFunction(() => [...document.querySelectorAll('#trend .u-series .u-label')].some((el: any) => el.textContent === 'mock'))
    await p.locator('#trend .u-over').hover({ position: { x: 600, y: 100 } })
    await p.waitForFunction(() => / tok$/.test(document.querySelectorAll('#trend .u-series .u-value')[1]?.textContent ?? ''))
    await chartShows(p, 'window=1h&metric=tokens&by=provider')
    // Latency per provider for the last hour: one line per provider, p95 unless p50 is chosen.
    await p.locator('#tmetric').selectOption('latency')
    await p.waitForFunction(() => !document.querySelector('#tq-label').hidden && document.querySelectorAll('#trend .u-series .u-label').length === 2)
    expect((await p.locator('#trend .u-series .u-label').allTextContents()).slice(1)).toEqual(['mock'])
    const p95 = await chartShows(p, 'window=1h&metric=latency&by=provider&quantile=p95')
    expect(p95.series[0].values.some((v: number | null) => v !== null && v >= 0)).toBe(true)
    await p.locator('#tq').selectOption('p50')
    await chartShows(p, 'window=1h&metric=latency&by=provider&quantile=p50')
    expect(await ticks('yTicks')).toMatch(/ (ms|s)(\||$)/)
    // Latency of all traffic: p50 and p95.
    await p.locator('#tby').selectOption('')
    await p.waitForFunction(() => document.querySelectorAll('#trend .u-series .u-label').length === 3 && document.querySelector('#tq-label').hidden)
    expect((await p.locator('#trend .u-series .u-label').allTextContents()).slice(1)).toEqual(['p50', 'p95'])
    await chartShows(p, 'window=1h&metric=latency')
    // Over 30 days there is no breakdown of latency (one histogram an hour for all traffic).
    await p.locator('#tby').selectOption('model')
    await p.waitForFunction(() => !document.querySelector('#tq-label').hidden)
    await p.locator('#window').selectOption('30d')
    await p.waitForFunction(() => document.querySelector('#tby').disabled && document.querySelector('#tq-label').hidden && document.querySelectorAll('#trend .u-series .u-label').length === 3)
    expect(await p.locator('#tby').getAttribute('title')).toContain('last hour')
    await chartShows(p, 'window=30d&metric=latency')
    await p.screenshot({ path: artifactPath('dashboard-trends.png') })

    // Everything came from the gateway itself, uPlot included.
    expect(urls.filter((u) => !u.startsWith(gw.url + '/'))).toEqual([])
    expect(urls).toContain(`${gw.url}/dashboard/assets/uplot.js`)
    expect(urls).toContain(`${gw.url}/dashboard/assets/uplot.css`)
    await p.context().close()
  }, 30_000)

  test('trends in Chinese: labels, legend and axes, no English left', async () => {
    const p = await newPage({ locale: 'zh-CN' })
    await p.goto(`${gw.url}/dashboard#overview`)
    await p.locator('#trend canvas').waitFor()
    expect(await p.locator('#tab-overview h2').first().textContent()).toBe('趋势')
    expect(await p.locator('#tmetric option').allTextContents()).toEqual(['请求数', '错误', '词元', '费用', '延迟'])
    expect(await p.locator('#tby option').allTextContents()).toEqual(['合计', '模型', '密钥', '上游'])
    expect((await p.locator('#trend .u-series .u-label').allTextContents()).slice(0, 2)).toEqual(['时间', '请求数'])
    await p.locator('#trend .u-over').hover({ position: { x: 300, y: 100 } })
    await p.waitForFunction(() => /次$/.test(document.querySelectorAll('#trend .u-series .u-value')[1]?.textContent ?? ''))
    await p.locator('#tby').selectOption('key')
    await p.waitForFunction(() => document.querySelector('#trend .u-series .u-label[translate=no]'))
    // Keys by their names, not their ids.
    expect(await p.locator('#trend .u-series .u-label[translate=no]').first().textContent()).toBe('tester')
    expect((await chartShows(p, 'window=24h&metric=requests&by=key')).series[0]).toMatchObject({ name: 'tester', key_id: 'cfg_tester' })
    expect(await englishLeftovers(p)).toEqual([])
    await p.screenshot({ path: artifactPath('dashboard-trends-zh.png') })
    await p.context().close()
  }, 30_000)

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

  test('the create form takes allowed IPs and a daily quota\'s time zone and reset time', async () => {
    await page.locator('#tabs button[data-tab=keys]').click()
    await page.getByTestId('key-name').fill('e2e-zoned')
    await page.locator('#create-key input[name=daily_tokens]').fill('5000')
    await page.getByTestId('create-ips').fill('10.0.0.0/8, 192.168.1.7')
    await page.getByTestId('create-tz').fill('Asia/Shanghai')
    await page.getByTestId('create-reset').fill('06:00')
    await page.getByTestId('create-key').click()
    await page.getByTestId('keyrow-e2e-zoned').waitFor()
    const created = (await admin('/keys')).data.find((k: any) => k.name === 'e2e-zoned')
    expect(created.ips).toEqual(['10.0.0.0/8', '192.168.1.7'])
    expect(created.quota).toMatchObject({ period: 'day', tokens: 5000, timezone: 'Asia/Shanghai', reset_time: '06:00' })
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

  test('saving a key unchanged changes nothing; the dialog edits allowed IPs, time zone and reset time', async () => {
    const created = await createKey({
      name: 'roundtrip',
      expires_at: '2027-01-01',
      models: ['mock-model'],
      ips: ['10.0.0.0/8'],
      rpm: 30,
      quota: { period: 'day', tokens: 5000, budget_usd: 1.25, timezone: 'Asia/Shanghai', reset_time: '06:00' },
    })
    const before = await admin(`/keys/${created.id}`)
    const patches: string[] = []
    const onRequest = (r: any) => r.method() === 'PATCH' && patches.push(r.postData() ?? '')
    page.on('request', onRequest)
    await page.locator('#tabs button[data-tab=keys]').click()
    await page.getByTestId('keyrow-roundtrip').waitFor()
    const form = page.locator('#edit-form')
    for (let i = 0; i < 3; i++) {
      await page.getByTestId('edit-roundtrip').click()
      expect(await form.locator('[name=expires_at]').inputValue()).toBe('2027-01-01')
      expect(await form.locator('[name=ips]').inputValue()).toBe('10.0.0.0/8')
      expect(await form.locator('[name=q_tz]').inputValue()).toBe('Asia/Shanghai')
      expect(await form.locator('[name=q_reset]').inputValue()).toBe('06:00')
      await page.getByTestId('save-key').click()
      await page.waitForFunction(() => !document.querySelector('#edit-dialog').open)
      await page.waitForFunction(() => document.querySelector('[data-testid=keyrow-roundtrip]'))
    }
    // Nothing was sent, and the key is exactly as it was.
    expect(patches).toEqual([])
    expect(await admin(`/keys/${created.id}`)).toEqual(before)

    await page.getByTestId('edit-roundtrip').click()
    await form.locator('[name=ips]').fill('10.0.0.0/8, 192.168.1.7')
    await form.locator('[name=q_tz]').fill('Europe/Berlin')
    await form.locator('[name=q_reset]').fill('07:30')
    await page.getByTestId('save-key').click()
    await page.waitForFunction(() => !document.querySelector('#edit-dialog').open)
    // Only what was changed is sent; the rest stays as the API had it.
    expect(patches.map((p) => JSON.parse(p))).toEqual([{ ips: ['10.0.0.0/8', '192.168.1.7'], quota: { ...before.quota, timezone: 'Europe/Berlin', reset_time: '07:30' } }])
    const after = await admin(`/keys/${created.id}`)
    expect(after.ips).toEqual(['10.0.0.0/8', '192.168.1.7'])
    expect(after.quota).toEqual({ ...before.quota, timezone: 'Europe/Berlin', reset_time: '07:30' })
    expect([after.expires_at, after.models, after.rpm, after.enabled]).toEqual([before.expires_at, before.models, before.rpm, before.enabled])

    // A new date is sent as that date (the key works through it).
    await page.getByTestId('edit-roundtrip').click()
    await form.locator('[name=expires_at]').fill('2027-03-01')
    await page.getByTestId('save-key').click()
    await page.waitForFunction(() => document.querySelector('[data-testid=keyrow-roundtrip]')?.textContent.includes('2027-03-01'))
    expect((await admin(`/keys/${created.id}`)).expires_at).toBe('2027-03-02T00:00:00.000Z')
    page.off('request', onRequest)
  }, 30_000)

  test("dates are in the browser's time zone, a date-only expiry is that date, and usage shows without a quota", async () => {
    const created = await createKey({ name: 'beijing', expires_at: '2030-11-01' })
    await ask(created.key)
    const key = await until(async () => {
      const k = await admin(`/keys/${created.id}`)
      const day = new Date().toISOString().slice(0, 10)
      const used = (await admin(`/usage?group_by=key&from=${day}`)).data.some((r: any) => r.key === created.id)
      return k.last_used_at && used && k
    })
    const shanghai = (iso: string | number) => new Date(new Date(iso).getTime() + 8 * 3_600_000).toISOString()
    const p = await newPage({ timezoneId: 'Asia/Shanghai' })
    await p.goto(`${gw.url}/dashboard#keys`)
    const row = p.getByTestId('keyrow-beijing')
    await row.waitFor()
    const text = (await row.textContent())!
    expect(text).toContain('2030-11-01')
    expect(text).not.toContain('2030-11-02')
    expect(text).toContain(shanghai(key.last_used_at).slice(0, 16).replace('T', ' '))
    // No quota, and yet what the key used today is shown.
    expect(text).toContain('1 req')

    await p.locator('#tabs button[data-tab=requests]').click()
    await p.getByTestId('request-row').first().waitFor()
    const newest = (await admin('/requests?limit=1&fields=summary')).data[0]
    expect(await p.getByTestId('request-row').first().textContent()).toContain(shanghai(newest.ts).slice(11, 19))
    await p.context().close()
  }, 20_000)

  test('the request log filters by key name or prefix, the live tail keeps to the filter, an open error stays open, no bodies are fetched', async () => {
    const friend = await createKey({ name: 'filter-me' })
    await ask(friend.key)
    await ask()
    const fail = (key = friend.key) => sdk(key).chat.completions.create({ model: 'no-such-model', messages: [] }).catch(() => {})
    await fail()
    await until(async () => (await admin(`/requests?key=${friend.id}`)).data.length >= 2)

    const lists: Array<{ url: string; body: string }> = []
    const onResponse = async (r: any) => {
      if (r.url().includes('/admin/api/requests?')) lists.push({ url: r.url(), body: await r.text().catch(() => '') })
    }
    page.on('response', onResponse)
    await page.locator('#tabs button[data-tab=requests]').click()
    await page.getByTestId('request-row').first().waitFor()
    // The refresh every 5 s asks for the newest few rows, not the whole page again.
    const poll = await page.waitForResponse((r) => r.url().includes('/admin/api/requests?'))
    expect((await poll.json()).data.length).toBeLessThanOrEqual(10)
    expect(await page.getByTestId('request-row').count()).toBeGreaterThan(10)
    const keyColumn = () => page.evaluate(() => [...document.querySelectorAll('[data-testid=request-row]')].map((tr: any) => tr.cells[1].textContent))
    const statusColumn = () => page.evaluate(() => [...document.querySelectorAll('[data-testid=request-row]')].map((tr: any) => Number(tr.cells[4].textContent)))
    const filterBy = async (key: string, status = '') => {
      await page.locator('#f-status').selectOption(status)
      await page.locator('#f-key').fill(key)
      await page.locator('#f-apply').click()
    }

    // By name, then by the prefix the keys table shows.
    for (const key of ['filter-me', `${friend.prefix}…`]) {
      await filterBy('')
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=request-row]')].some((tr: any) => tr.cells[1].textContent === 'tester'))
      await filterBy(key)
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=request-row]')].every((tr: any) => tr.cells[1].textContent === 'filter-me'))
      expect((await keyColumn()).length).toBe(2)
    }
    await filterBy('nobody-like-this')
    await page.waitForFunction(() => document.querySelector('#msg').textContent.includes('nobody-like-this'))

    // Errors of one key; one opened stays open when the list refreshes with a new row.
    await filterBy('filter-me', 'error')
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 1 && document.querySelector('#requests details'))
    await page.locator('#requests details summary').first().click()
    await fail()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 2, undefined, { timeout: 12_000 })
    expect(await page.locator('#requests details[open]').count()).toBe(1)
    expect(await page.locator('#requests details').count()).toBe(2)

    // The live tail shows only what the filter lets through.
    await page.getByTestId('live').check()
    await Bun.sleep(300)
    await ask()
    await ask(friend.key)
    await fail(CLIENT_KEY)
    await fail()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 3)
    await Bun.sleep(200)
    expect(await keyColumn()).toEqual(['filter-me', 'filter-me', 'filter-me'])
    expect((await statusColumn()).every((s) => s >= 400)).toBe(true)
    await page.getByTestId('live').uncheck()
    await filterBy('')
    page.off('response', onResponse)

    // The list asked for no bodies and got none.
    expect(lists.length).toBeGreaterThan(2)
    for (const l of lists) {
      expect(l.url).toContain('fields=summary')
      expect(l.body).not.toContain('requestBody')
    }
    await page.screenshot({ path: artifactPath('dashboard-requests-filtered.png') })
  }, 30_000)

  test('usage per key, model and provider: totals are the sums, headers sort, a date range, CSV of the rows shown', async () => {
    await page.locator('#tabs button[data-tab=usage]').click()
    const today = new Date().toISOString().slice(0, 10)
    expect(await page.locator('#u-to').inputValue()).toBe(today)
    expect(await page.locator('#u-from').inputValue()).toBe(new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10))
    await page.locator('#usage-group').selectOption('key')
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=usage-row]').length >= 2)
    const table = () => page.evaluate(() => [...document.querySelectorAll('[data-testid=usage-row]')].map((tr: any) => [tr.cells[0].textContent, Number(tr.cells[1].textContent.replace(/\D/g, ''))]))
    const total = async () => Number((await page.getByTestId('usage-total').locator('td').nth(1).textContent())!.replace(/\D/g, ''))
    let shown = await table()
    expect(await total()).toBe(shown.reduce((a: number, r: any) => a + r[1], 0))
    // The API agrees.
    const api = (await admin(`/usage?group_by=key&from=${new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10)}&to=${today}`)).data
    expect(await total()).toBe(api.reduce((a: number, r: any) => a + r.requests, 0))
    // And so does the request log: every request shown once, with the same tokens.
    const logged: any[] = []
    for (let before: unknown = undefined, pages = 0; pages < 20; pages++) {
      const batch = await admin(`/requests?limit=200&fields=summary${before ? `&before=${before}` : ''}`)
      logged.push(...batch.data)
      before = batch.next_before
      if (!before) break
    }
    expect(await total()).toBe(logged.length)
    const prompt = Number((await page.getByTestId('usage-total').locator('td').nth(3).textContent())!.replace(/\D/g, ''))
    expect(prompt).toBe(logged.reduce((a, r) => a + (r.promptTokens ?? 0), 0))
    // Newest default: most requests first; a click on Requests turns it round, a click on the name sorts by name.
    const counts = shown.map((r: any) => r[1])
    expect(counts).toEqual(counts.slice().sort((a: number, b: number) => b - a))
    await page.locator('#usage th[data-sort=requests]').click()
    shown = await table()
    expect(shown.map((r: any) => r[1])).toEqual(counts.slice().sort((a: number, b: number) => a - b))
    await page.locator('#usage th[data-sort=name]').click()
    const names = (await table()).map((r: any) => r[0])
    expect(names).toEqual(names.slice().sort((a: string, b: string) => a.localeCompare(b)))
    expect(await page.locator('#usage th[data-sort=name]').getAttribute('aria-sort')).toBe('ascending')
    // CSV: a header line, then the rows in the order shown.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('usage-csv').click()])
    const csv = await Bun.file((await download.path())!).text()
    const lines = csv.trim().split(/\r\n/)
    expect(lines[0]).toBe('key,requests,errors,prompt_tokens,completion_tokens,cost_usd,priced')
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(names)
    expect(lines.slice(1).map((l) => Number(l.split(',')[1]))).toEqual((await table()).map((r: any) => r[1]))
    // Per served model, unpriced marked (no prices in this config); per provider.
    await page.locator('#usage-group').selectOption('model')
    await page.waitForFunction(() => document.querySelector('#usage')?.textContent?.includes('mock-model'))
    expect(await page.locator('#usage').textContent()).toContain('unpriced')
    await page.locator('#usage-group').selectOption('provider')
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=usage-row]')].some((tr: any) => tr.cells[0].textContent === 'mock'))
    // A range with nothing in it: no rows, totals zero.
    await page.locator('#u-from').fill('2001-01-01')
    await page.locator('#u-to').fill('2001-01-31')
    await page.locator('#usage-form button[type=submit]').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=usage-row]').length === 0)
    expect(await total()).toBe(0)
    await page.locator('#u-from').fill(new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10))
    await page.locator('#u-to').fill(today)
    await page.locator('#usage-form button[type=submit]').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=usage-row]').length > 0)
    await page.screenshot({ path: artifactPath('dashboard-usage-sorted.png') })
  })

  test('the request log: full dates, Older/Newer paging, filters by code, error type and dates, a detail view of one request', async () => {
    // More than a page of rows, some of them errors of one type.
    for (let i = 0; i < 6; i++) await Promise.all(Array.from({ length: 10 }, () => ask()))
    await Promise.all([1, 2].map(() => sdk().chat.completions.create({ model: 'no-such-model', messages: [] }).catch(() => {})))
    const all = await until(async () => { const d = (await admin('/requests?limit=500&fields=summary')).data; return d.length > 55 && d.filter((r: any) => r.errorType === 'model_not_found').length >= 2 && d })
    // A page of its own, with no filter left from the tests before.
    const page = await newPage({ viewport: { width: 1280, height: 900 } })
    await page.goto(`${gw.url}/dashboard#requests`)
    await page.getByTestId('request-row').first().waitFor()
    const ids = () => page.evaluate(() => [...document.querySelectorAll('[data-testid=request-row] button[data-detail]')].map((b: any) => Number(b.dataset.detail)))
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 50)
    const first = await ids()
    const d = new Date(all.find((r: any) => r.id === first[0]).ts)
    const pad = (x: number) => String(x).padStart(2, '0')
    expect(await page.getByTestId('request-row').first().textContent()).toContain(`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`)
    expect(await page.getByTestId('newer').isDisabled()).toBe(true)
    await page.getByTestId('older').click()
    await page.waitForFunction((top) => Number(document.querySelector('[data-testid=request-row] button[data-detail]')?.dataset.detail) < top!, first.at(-1))
    const second = await ids()
    expect(second[0]).toBeLessThan(first.at(-1)!)
    expect(second).toEqual(all.filter((r: any) => r.id < first.at(-1)!).slice(0, 50).map((r: any) => r.id))
    await page.getByTestId('newer').click()
    await page.waitForFunction((top) => Number(document.querySelector('[data-testid=request-row] button[data-detail]')?.dataset.detail) === top, first[0])
    expect(await page.getByTestId('newer').isDisabled()).toBe(true)
    const count = () => page.getByTestId('request-row').count()
    // Each filter narrows: a status code, an error type, dates.
    await page.locator('#f-code').fill('404')
    await page.locator('#f-apply').click()
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=request-row]')].every((tr: any) => tr.cells[4].textContent === '404'))
    expect(await count()).toBe(all.filter((r: any) => r.status === 404).length)
    await page.locator('#f-code').fill('')
    await page.locator('#f-etype').fill('model_not_found')
    await page.locator('#f-apply').click()
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=request-row]').length === n, all.filter((r: any) => r.errorType === 'model_not_found').length)
    await page.locator('#f-etype').fill('')
    await page.locator('#f-to').fill('2001-01-01')
    await page.locator('#f-apply').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 0)
    await page.locator('#f-to').fill('')
    const ymd = (x: Date) => `${x.getFullYear()}-${pad(x.getMonth() + 1)}-${pad(x.getDate())}`
    await page.locator('#f-from').fill(ymd(new Date()))
    await page.locator('#f-apply').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 50)
    await page.locator('#f-from').fill('')
    // The detail of an error: every stored field, the bodies (kept here).
    const failed = all.find((r: any) => r.errorType === 'model_not_found')
    await page.locator('#f-etype').fill('model_not_found')
    await page.locator('#f-apply').click()
    await page.getByTestId(`detail-${failed.id}`).click()
    await page.locator('#detail[open]').waitFor()
    const field = (f: string) => page.locator(`#detail-table tr[data-f=${f}] td`).textContent()
    expect(await field('rid')).toBe(failed.requestId)
    expect(await field('client')).toBe(failed.clientIp)
    expect(await field('status')).toBe('404')
    expect(await field('error')).toContain('model_not_found')
    expect(await field('reqbody')).toContain('no-such-model')
    expect(await field('resbody')).toContain('model_not_found')
    await page.screenshot({ path: artifactPath('dashboard-request-detail.png') })
    await page.locator('#detail-close').click()
    const ok = all.find((r: any) => r.status === 200)
    await page.locator('#f-etype').fill('')
    await page.locator('#f-apply').click()
    await page.getByTestId(`detail-${ok.id}`).click()
    await page.locator('#detail[open]').waitFor()
    expect(await field('ukey')).toBe(fingerprint('k-ok-1'))
    expect(await field('attempts')).toBe(String(ok.attempts))
    expect(await field('ptok')).toBe(String(ok.promptTokens))
    expect(await field('latency')).toMatch(/ms|s$/)
    await page.locator('#detail-close').click()
    await page.context().close()
  }, 30_000)

  test('/admin/api/requests?fields=summary leaves the bodies out; the default keeps them', async () => {
    const full = (await admin('/requests?limit=5')).data
    expect(full.length).toBeGreaterThan(0)
    expect(full.some((r: any) => typeof r.requestBody === 'string' && typeof r.responseBody === 'string')).toBe(true)
    const summary = (await admin('/requests?limit=5&fields=summary')).data
    expect(summary.map((r: any) => r.id)).toEqual(full.map((r: any) => r.id))
    for (const r of summary) {
      expect(r).not.toHaveProperty('requestBody')
      expect(r).not.toHaveProperty('responseBody')
      expect(r).toHaveProperty('priced')
    }
    const bad = await fetch(`${gw.url}/admin/api/requests?fields=everything`, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect(bad.status).toBe(400)
  })

  test('at 390 px the key actions are on screen and the header is at most two lines', async () => {
    await createKey({ name: 'phone-key', rpm: 5, models: ['mock-model', 'openai/*'] })
    for (const locale of ['en-US', 'zh-CN']) {
      const p = await newPage({ viewport: { width: 390, height: 844 }, locale })
      await p.goto(`${gw.url}/dashboard#keys`)
      await p.getByTestId('keyrow-phone-key').waitFor()
      const layout = await p.evaluate(() => {
        const rect = (el: any) => el.getBoundingClientRect()
        const buttons = [...document.querySelectorAll('#keys button')].map(rect)
        const parts = [...document.querySelectorAll('header h1, header nav button, #lang, #logout')].map(rect)
        const lines = new Set(parts.map((r: any) => Math.round(r.top / 8)))
        return { width: window.innerWidth, buttons, parts, lines: lines.size, scroll: document.documentElement.scrollWidth }
      })
      expect(layout.buttons.length).toBeGreaterThan(1)
      for (const b of [...layout.buttons, ...layout.parts]) {
        expect(b.left).toBeGreaterThanOrEqual(0)
        expect(b.right).toBeLessThanOrEqual(layout.width)
      }
      expect(layout.lines).toBeLessThanOrEqual(2)
      expect(layout.scroll).toBeLessThanOrEqual(390)
      await p.screenshot({ path: artifactPath(`dashboard-phone-keys-${locale}.png`), fullPage: true })
      // The edit dialog fits too.
      await p.getByTestId('edit-phone-key').click()
      const dialog = await p.locator('#edit-dialog').evaluate((d: any) => ({ box: d.getBoundingClientRect().toJSON(), save: d.querySelector('[data-testid=save-key]').getBoundingClientRect().toJSON() }))
      expect(dialog.box.right).toBeLessThanOrEqual(390)
      expect(dialog.save.right).toBeLessThanOrEqual(390)
      await p.screenshot({ path: artifactPath(`dashboard-phone-edit-${locale}.png`) })
      await p.context().close()
    }
  }, 20_000)

  test('primary buttons have 4.5:1 contrast in dark and light mode; an h1 and a main landmark', async () => {
    for (const colorScheme of ['dark', 'light'] as const) {
      const login = await newPage({ colorScheme }, true)
      await login.goto(`${gw.url}/dashboard`)
      await login.getByTestId('login').waitFor()
      const app = await newPage({ colorScheme })
      await app.goto(`${gw.url}/dashboard#keys`)
      await app.getByTestId('create-key').waitFor()
      for (const [p, button] of [[login, 'login'], [app, 'create-key']] as const) {
        const { color, background } = await p.getByTestId(button).evaluate((el) => ({ color: getComputedStyle(el).color, background: getComputedStyle(el).backgroundColor }))
        expect(contrastRatio(color, background)).toBeGreaterThanOrEqual(4.5)
        expect(await p.locator('h1:visible').count()).toBe(1)
        expect(await p.getByRole('main').count()).toBe(1)
        expect(await p.getByRole('main').isVisible()).toBe(true)
      }
      await login.context().close()
      await app.context().close()
    }
  }, 20_000)

  test('errors are shown in the page, not in alert()', async () => {
    const dialogs: string[] = []
    const onDialog = (d: any) => dialogs.push(d.type())
    page.on('dialog', onDialog)
    await page.locator('#tabs button[data-tab=keys]').click()
    await page.getByTestId('key-name').fill('too-long-models')
    await page.locator('#create-key [name=models]').fill('m'.repeat(300))
    await page.getByTestId('create-key').click()
    await page.waitForFunction(() => document.querySelector('#msg').textContent.includes('models'))
    expect(await page.locator('#msg').getAttribute('aria-live')).toBeTruthy()

    await page.getByTestId('edit-roundtrip').click()
    await page.locator('#edit-form [name=ips]').fill('not-an-address')
    await page.getByTestId('save-key').click()
    await page.waitForFunction(() => document.querySelector('#edit-error').textContent.includes('not-an-address'))
    // The dialog stays open with what was typed, to be corrected.
    expect(await page.locator('#edit-dialog').evaluate((d: any) => d.open)).toBe(true)
    await page.locator('#edit-cancel').click()
    expect(dialogs).toEqual([])
    page.off('dialog', onDialog)
    await page.locator('#create-key [name=models]').fill('')
  })

  test('Copy says so, and without navigator.clipboard (plain http) selects the key and copies it the old way', async () => {
    for (const clipboard of [true, false]) {
      const p = await newPage()
      await p.addInitScript((withClipboard: boolean) => {
        window.copied = []
        if (withClipboard) Object.defineProperty(Navigator.prototype, 'clipboard', { configurable: true, get: () => ({ writeText: async (text: string) => void window.copied.push(['clipboard', text]) }) })
        else {
          delete Navigator.prototype.clipboard
          document.execCommand = (command: string) => (window.copied.push([command, String(getSelection())]), true)
        }
      }, clipboard)
      await p.goto(`${gw.url}/dashboard#keys`)
      await p.getByTestId('key-name').fill(`copy-${clipboard}`)
      await p.getByTestId('create-key').click()
      await p.waitForFunction(() => document.querySelector('[data-testid=secret]')?.textContent?.startsWith('sk-sluice-'))
      const secret = (await p.getByTestId('secret').textContent())!
      await p.locator('#copy-secret').click()
      await p.waitForFunction(() => document.querySelector('#copy-note').textContent.length > 0)
      expect(await p.locator('#copy-note').textContent()).toBe('Copied')
      expect(await p.evaluate(() => window.copied)).toEqual([[clipboard ? 'clipboard' : 'copy', secret]])
      if (!clipboard) expect(await p.evaluate(() => String(getSelection()))).toBe(secret)
      await p.context().close()
    }
  }, 20_000)

  test('Chinese for a Chinese browser, English otherwise; the switch changes it and is remembered', async () => {
    // The login, before any session.
    const login = await newPage({ locale: 'zh-CN' }, true)
    await login.goto(`${gw.url}/dashboard`)
    expect(await login.getByTestId('login').textContent()).toBe('登录')
    expect(await login.evaluate(() => document.documentElement.lang)).toBe('zh-CN')
    expect(await englishLeftovers(login)).toEqual([])
    await login.context().close()

    const p = await newPage({ locale: 'zh-CN' })
    await p.goto(`${gw.url}/dashboard#overview`)
    await p.getByTestId('stat-requests').waitFor()
    const tabs = () => p.locator('#tabs button').allTextContents()
    expect(await tabs()).toEqual(['概览', '上游', '密钥', '用量', '请求日志', '接入'])
    for (const [tab, ready] of [['overview', '#cards .card'], ['providers', '#providers tr'], ['keys', '#keys tr'], ['usage', '#usage tr'], ['connect', '#snippets .snip'], ['requests', '[data-testid=request-row]']]) {
      await p.locator(`#tabs button[data-tab=${tab}]`).click()
      await p.waitForFunction((sel) => document.querySelectorAll(sel).length > 1, ready)
      expect({ tab, left: await englishLeftovers(p) }).toEqual({ tab, left: [] })
    }
    await rowsIn(p, '#requests')
    await p.screenshot({ path: artifactPath('dashboard-requests-zh.png') })

    // The switch: English now, and still after a reload.
    await p.locator('#lang').selectOption('en')
    expect(await tabs()).toEqual(['Overview', 'Providers', 'Keys', 'Usage', 'Requests', 'Connect'])
    expect(await p.locator('#requests tr th').first().textContent()).toBe('Time')
    // The choice is all the page keeps; never the admin token.
    expect(await p.evaluate(() => JSON.stringify([{ ...window.localStorage }, { ...window.sessionStorage }]))).toBe(JSON.stringify([{ 'sluice.lang': 'en' }, {}]))
    await p.reload()
    await p.getByTestId('request-row').first().waitFor()
    expect(await tabs()).toEqual(['Overview', 'Providers', 'Keys', 'Usage', 'Requests', 'Connect'])
    const cjk = (await p.evaluate(visibleUiText)).filter((text) => /[\u4e00-\u9fff]/.test(text))
    expect(cjk).toEqual([])
    await p.locator('#lang').selectOption('zh')
    expect(await tabs()).toEqual(['概览', '上游', '密钥', '用量', '请求日志', '接入'])
    await p.context().close()

    // An English browser gets English.
    const en = await newPage({ locale: 'en-GB' }, true)
    await en.goto(`${gw.url}/dashboard`)
    expect(await en.getByTestId('login').textContent()).toBe('Log in')
    await en.context().close()
  }, 30_000)

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
    // The weight a browser downloads (gzip, as a reverse proxy serves it): page, uPlot and its CSS.
    const weight = [html, await (await fetch(`${gw.url}/dashboard/assets/uplot.js`)).text(), await (await fetch(`${gw.url}/dashboard/assets/uplot.css`)).text()].reduce((sum, text) => sum + Bun.gzipSync(text).length, 0)
    console.log(`dashboard weight: ${html.length} bytes of page, ${weight} bytes compressed with uPlot`)
    expect(weight).toBeLessThan(150_000)
    expect(html.length).toBeLessThan(120_000)
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/)
    // No inline event handlers (the script is the page's one inline script).
    expect(html).not.toMatch(/\son[a-z]+\s*=/i)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain("default-src 'self'")
    // Scripts and styles: inline and this origin (uPlot's asset), nothing else; no framing.
    expect(csp).toContain("script-src 'self' 'unsafe-inline';")
    expect(csp).toContain("style-src 'self' 'unsafe-inline';")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toMatch(/https?:|\*/)
    // uPlot is served by the gateway, from the binary; it is the only asset.
    const js = await fetch(`${gw.url}/dashboard/assets/uplot.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toStartWith('text/javascript')
    const code = await js.text()
    expect(code).toContain('uPlot')
    expect(code.length).toBeLessThan(60_000)
    expect((await fetch(`${gw.url}/dashboard/assets/uplot.css`)).headers.get('content-type')).toStartWith('text/css')
    expect((await fetch(`${gw.url}/dashboard/assets/other.js`)).status).toBe(404)
  })
})
