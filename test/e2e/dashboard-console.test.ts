import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import type { Browser, Page } from 'playwright-core'
import { artifactPath, chromiumPath, launchBrowser, visibleUiText } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { keyOf, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Code in page.evaluate / waitForFunction runs in the browser, where document exists.
declare const document: any
declare const window: any

const ADMIN = 'dashboard-console-admin-token'
const WAIT_MS = 8_000
const GOOD_KEY = 'sk-console-good-key-00000001'
const BAD_KEY = 'sk-bad-console-key-00000002'
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard console end-to-end tests skipped: no Chromium (apt-get install chromium)')

let mock: MockUpstream
let gw: TestGateway
let browser: Browser
let page: Page

async function admin(path: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(`${gw.url}/admin/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...init.headers } })
  return { status: res.status, body: await res.json() }
}
const chat = (model: string) =>
  new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })

/** Latin words left in a page meant to be in Chinese (names of things and units aside). */
async function englishLeftovers(p: Page): Promise<string[]> {
  const allowed = new Set(['sluice', 'ms', 'UTC', 'IP', 'ID', 'HTTP', 'URL', 'OpenAI', 'openai', 'anthropic', 'gemini', 'chat', 'responses', 'both', 'sk'])
  return (await p.evaluate(visibleUiText)).flatMap((text) => text.match(/[A-Za-z]{2,}/g) ?? []).filter((w) => !allowed.has(w))
}

describe.if(run)('the dashboard as a console: providers, keys, aliases and prices', () => {
  beforeAll(async () => {
    mock = startMockUpstream(['mock-model', 'console-model'])
    // A key that is not a good one gets the 401 real upstreams give on their model list.
    mock.handler = async (_req, body, seen) => {
      if (seen.path === '/v1/models' && keyOf(seen).startsWith('sk-bad')) return Response.json({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }, { status: 401 })
      if (seen.path === '/v1/models') return Response.json({ object: 'list', data: mock.models.map((id) => ({ id, object: 'model' })) })
      return Response.json({ id: 'c1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: `answered with ${keyOf(seen).slice(-4)}` }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })
    }
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'filed', type: 'openai', base_url: mock.baseUrl, keys: ['sk-filed-key-000000000001'], models: ['mock-model'] }],
    })
    browser = await launchBrowser()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
    page.context().setDefaultTimeout(WAIT_MS)
    page.on('dialog', (d) => void d.accept())
    await page.goto(`${gw.url}/dashboard`)
    await page.locator('#token').fill(ADMIN)
    await page.getByTestId('login').click()
    await page.locator('#tabs button[data-tab=providers]').click()
    await page.getByTestId('provider-filed').waitFor()
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    mock?.stop()
  })

  test('a file-defined provider is read-only: marked, no edit or delete', async () => {
    expect(await page.getByTestId('src-filed').textContent()).toBe('config file')
    expect(await page.getByTestId('edit-provider-filed').count()).toBe(0)
    expect(await page.getByTestId('delete-provider-filed').count()).toBe(0)
    expect(await page.getByTestId('test-provider-filed').count()).toBe(1)
  })

  test('a bad field is refused in the form, named and marked; nothing is added', async () => {
    await page.getByTestId('add-provider').click()
    await page.getByTestId('prov-name').fill('broken')
    await page.getByTestId('prov-base-url').fill('ftp://example.invalid/v1')
    await page.getByTestId('prov-keys').fill('sk-broken-key-0000000001')
    await page.getByTestId('save-provider').click()
    await page.waitForFunction(() => document.querySelector('[data-testid=prov-error]').textContent.includes('base_url'))
    expect(await page.getByTestId('prov-error').textContent()).toContain('expected an http(s) URL')
    expect(await page.getByTestId('prov-base-url').getAttribute('aria-invalid')).toBe('true')
    await page.locator('#prov-cancel').click()
    expect((await admin('/config')).body.providers.map((p: any) => p.name)).toEqual(['filed'])
  })

  test('adding a provider and its keys in the UI: a request through it succeeds without a restart; the secrets are hints', async () => {
    await page.getByTestId('add-provider').click()
    await page.getByTestId('prov-name').fill('console')
    await page.getByTestId('prov-base-url').fill(mock.baseUrl)
    await page.getByTestId('prov-models').fill('console-model')
    await page.getByTestId('prov-keys').fill(`${GOOD_KEY} team A\n${BAD_KEY}`)
    await page.getByTestId('save-provider').click()
    await page.getByTestId('provider-console').waitFor()
    expect(await page.getByTestId('src-console').textContent()).toBe('dashboard')
    expect((await chat('console-model')).choices[0]!.message.content).toBe('answered with 0001')
    const html = await page.content()
    expect(html).not.toContain(GOOD_KEY)
    expect(html).toContain('sk-...0001')
    expect(html).toContain('team A')
    await page.screenshot({ path: artifactPath('dashboard-providers-en.png'), fullPage: true })
  })

  test('"test" on a working key shows status, latency and models; on a failing key, why', async () => {
    const listed = (await admin('/config')).body.providers.find((p: any) => p.name === 'console')
    const [good, bad] = listed.keys.map((k: any) => k.fingerprint)
    await page.getByTestId(`test-key-${good}`).click()
    const okCell = page.getByTestId(`test-console/${good}`)
    await page.waitForFunction((id) => /HTTP 200/.test(document.querySelector(`[data-testid="test-${id}"]`)?.textContent ?? ''), `console/${good}`)
    expect(await okCell.textContent()).toMatch(/^HTTP 200 in \d+ ms, 2 models mock-model, console-model$/)
    await page.getByTestId(`test-key-${bad}`).click()
    await page.waitForFunction((id) => /HTTP 401/.test(document.querySelector(`[data-testid="test-${id}"]`)?.textContent ?? ''), `console/${bad}`)
    expect(await page.getByTestId(`test-console/${bad}`).textContent()).toMatch(/^failed \(HTTP 401\) in \d+ ms: HTTP 401/)
  })

  test('saving a provider unchanged changes nothing; an edit keeps the keys and applies at once', async () => {
    const before = (await admin('/config')).body.providers.find((p: any) => p.name === 'console')
    await page.getByTestId('edit-provider-console').click()
    await page.getByTestId('save-provider').click()
    await page.waitForFunction(() => !document.querySelector('#prov-dialog').open)
    const same = (await admin('/config')).body.providers.find((p: any) => p.name === 'console')
    expect(same).toEqual(before)
    // Remove the failing key and switch its models: the first key stays, by its id.
    await page.getByTestId('edit-provider-console').click()
    await page.getByTestId('remove-key-1').check()
    await page.getByTestId('prov-models').fill('console-model, mock-model')
    await page.getByTestId('save-provider').click()
    await page.waitForFunction(() => !document.querySelector('#prov-dialog').open)
    const after = (await admin('/config')).body.providers.find((p: any) => p.name === 'console')
    expect(after.keys).toEqual([before.keys[0]])
    expect(after.models).toEqual(['console-model', 'mock-model'])
    expect((await chat('console/mock-model')).choices[0]!.message.content).toBe('answered with 0001')
  })

  test('priority and weight are set in the dialog and order the providers of a model', async () => {
    await page.getByTestId('edit-provider-console').click()
    await page.getByTestId('prov-priority').fill('5')
    await page.getByTestId('prov-weight').fill('2')
    await page.getByTestId('save-provider').click()
    await page.waitForFunction(() => !document.querySelector('#prov-dialog').open)
    expect((await admin('/config')).body.providers.find((p: any) => p.name === 'console')).toMatchObject({ priority: 5, weight: 2 })
    // mock-model is served by both: the file's provider (priority 0) and this one (5), which goes first.
    expect((await chat('mock-model')).choices[0]!.message.content).toBe('answered with 0001')
    await page.getByTestId('edit-provider-console').click()
    expect(await page.getByTestId('prov-priority').inputValue()).toBe('5')
    await page.getByTestId('prov-priority').fill('')
    await page.getByTestId('save-provider').click()
    await page.waitForFunction(() => !document.querySelector('#prov-dialog').open)
    expect((await admin('/config')).body.providers.find((p: any) => p.name === 'console').priority).toBeUndefined()
  })

  test('aliases and prices: added in the page, used by the gateway, deleted', async () => {
    await page.getByTestId('alias-name').fill('house')
    await page.getByTestId('alias-targets').fill('console/console-model')
    await page.getByTestId('save-alias').click()
    await page.getByTestId('alias-house').waitFor()
    expect((await chat('house')).model).toBe('console-model')
    await page.getByTestId('price-model').fill('console/console-model')
    await page.getByTestId('price-prompt').fill('2')
    await page.getByTestId('price-completion').fill('4')
    await page.getByTestId('save-price').click()
    await page.getByTestId('price-console/console-model').waitFor()
    expect((await admin('/config')).body.prices).toEqual([expect.objectContaining({ name: 'console/console-model', prompt: 2, completion: 4, source: 'dashboard' })])
    // The provider cannot go while the alias uses it: the page says so.
    await page.getByTestId('delete-provider-console').click()
    await page.waitForFunction(() => /house/.test(document.querySelector('#msg').textContent))
    await page.getByTestId('delete-alias-house').click()
    await page.waitForFunction(() => !document.querySelector('[data-testid=alias-house]'))
    await page.getByTestId('delete-provider-console').click()
    await page.waitForFunction(() => !document.querySelector('[data-testid=provider-console]'))
    expect(await chat('console-model').then(() => 200, (e: { status?: number }) => e.status)).toBe(404)
  })

  test('the providers tab and its dialog in Chinese, with nothing left in English', async () => {
    const p = await (await browser.newContext({ locale: 'zh-CN', storageState: await page.context().storageState() })).newPage()
    p.context().setDefaultTimeout(WAIT_MS)
    await p.goto(`${gw.url}/dashboard#providers`)
    await p.getByTestId('provider-filed').waitFor()
    expect(await englishLeftovers(p)).toEqual([])
    await p.getByTestId('add-provider').click()
    expect(await englishLeftovers(p)).toEqual([])
    await p.screenshot({ path: artifactPath('dashboard-provider-dialog-zh.png') })
    await p.context().close()
  })

  test('at 390 px every action of every view is on screen, in both languages', async () => {
    // A dashboard provider with keys, so the providers view has every kind of button.
    const made = await admin('/config/providers', { method: 'POST', body: JSON.stringify({ name: 'phone', type: 'openai', base_url: mock.baseUrl, models: ['console-model'], keys: [{ key: 'sk-phone-key-000000000001', label: 'a rather long label for a phone' }] }) })
    expect(made.status).toBe(201)
    for (const locale of ['en-US', 'zh-CN']) {
      const p = await (await browser.newContext({ viewport: { width: 390, height: 844 }, locale, storageState: await page.context().storageState() })).newPage()
      p.context().setDefaultTimeout(WAIT_MS)
      await p.goto(`${gw.url}/dashboard#overview`)
      for (const [tab, ready] of [['overview', '#cards .card'], ['providers', '[data-testid=provider-phone]'], ['keys', '#keys tr:not(.h)'], ['usage', '#usage tr'], ['requests', '#requests tr'], ['connect', '#tab-connect button']] as const) {
        await p.locator(`#tabs button[data-tab=${tab}]`).click()
        await p.locator(ready).first().waitFor()
        const off = await p.evaluate(() => {
          const width = window.innerWidth
          const controls = [...document.querySelectorAll('main button, main input, main select, main textarea, main a')].filter((el: any) => el.offsetParent !== null && !el.closest('dialog'))
          return { scroll: document.documentElement.scrollWidth, off: controls.map((el: any) => ({ what: el.outerHTML.slice(0, 80), r: el.getBoundingClientRect() })).filter((c: any) => c.r.left < 0 || c.r.right > width).map((c: any) => c.what) }
        })
        expect({ tab, locale, ...off }).toEqual({ tab, locale, scroll: 390, off: [] })
      }
      await p.context().close()
    }
  }, 60_000)
})
