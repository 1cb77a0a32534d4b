import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import OpenAI from 'openai'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { artifactPath, axeViolations, chromiumPath, launchBrowser } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Code in page.evaluate / waitForFunction runs in the browser, where document exists.
declare const document: any

const ADMIN = 'dashboard-axe-admin-token-1'
const WAIT_MS = 8_000
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard accessibility tests skipped: no Chromium (apt-get install chromium)')

let mock: MockUpstream
let gw: TestGateway
let browser: Browser
let session: BrowserContextOptions['storageState']

/**
 * Each view in the state a user sees it in: loaded, then (the second step) with its dialog or detail
 * open where it has one; a modal dialog makes the rest inert, so the view is checked both ways.
 */
const VIEWS: Array<[string, (p: Page) => Promise<void>, ((p: Page) => Promise<void>)?]> = [
  ['overview with its chart', async (p) => {
    await p.goto(`${gw.url}/dashboard#overview`)
    await p.locator('#trend canvas').waitFor()
    await p.locator('#tby').selectOption('model')
    await p.waitForFunction(() => document.querySelector('#trend .u-series .u-label[translate=no]'))
  }],
  ['providers', async (p) => {
    await p.goto(`${gw.url}/dashboard#providers`)
    await p.getByTestId('provider-mock').waitFor()
  }, async (p) => {
    await p.getByTestId('add-provider').click()
    await p.locator('#prov-dialog[open]').waitFor()
  }],
  ['keys', async (p) => {
    await p.goto(`${gw.url}/dashboard#keys`)
    await p.getByTestId('keyrow-axe-key').waitFor()
  }, async (p) => {
    await p.getByTestId('edit-axe-key').click()
    await p.locator('#edit-dialog[open]').waitFor()
  }],
  ['usage', async (p) => {
    await p.goto(`${gw.url}/dashboard#usage`)
    await p.getByTestId('usage-row').first().waitFor()
  }],
  ['requests', async (p) => {
    await p.goto(`${gw.url}/dashboard#requests`)
    await p.locator('[data-testid=request-row] button[data-detail]').first().waitFor()
    await p.locator('#requests details summary').first().click()
  }, async (p) => {
    await p.locator('[data-testid=request-row] button[data-detail]').first().click()
    await p.locator('#detail[open]').waitFor()
  }],
  ['connect and the playground', async (p) => {
    await p.goto(`${gw.url}/dashboard#connect`)
    await p.getByTestId('snippet-curl-0').waitFor()
    await p.getByTestId('pg-key').selectOption({ label: 'tester' })
    await p.getByTestId('pg-message').fill('hi')
    await p.getByTestId('pg-send').click()
    await p.waitForFunction(() => document.querySelector('[data-testid=pg-usage]').textContent.length > 0)
  }, async (p) => {
    // Not a dialog: the playground with the gateway's refusal shown.
    await p.getByTestId('pg-key').selectOption({ label: 'axe-narrow' })
    await p.getByTestId('pg-send').click()
    await p.waitForFunction(() => document.querySelector('[data-testid=pg-error]').textContent.length > 0)
  }],
]

describe.if(run)('the dashboard has no serious or critical accessibility violations (axe-core)', () => {
  beforeAll(async () => {
    mock = startMockUpstream()
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'mock', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok-1'], models: ['mock-model'] }],
    })
    const sdk = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    await Promise.all([1, 2, 3].map(() => sdk.chat.completions.create({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }] })))
    await sdk.chat.completions.create({ model: 'no-such-model', messages: [] }).catch(() => {})
    await fetch(`${gw.url}/admin/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'axe-key', rpm: 10 }) })
    await fetch(`${gw.url}/admin/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'axe-narrow', models: ['other-model'] }) })
    browser = await launchBrowser()
    const login = await browser.newPage()
    await login.goto(`${gw.url}/dashboard`)
    await login.locator('#token').fill(ADMIN)
    await login.getByTestId('login').click()
    await login.getByTestId('stat-requests').waitFor()
    session = await login.context().storageState()
    await login.context().close()
    // The request log is written a moment after the requests.
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${gw.url}/admin/api/requests?limit=5`, { headers: { authorization: `Bearer ${ADMIN}` } })
      if (((await res.json()) as any).data.length >= 4) break
      await Bun.sleep(100)
    }
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    mock?.stop()
  })

  for (const colorScheme of ['light', 'dark'] as const) {
    test(`the login, ${colorScheme}`, async () => {
      const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 800 } })
      context.setDefaultTimeout(WAIT_MS)
      const p = await context.newPage()
      await p.goto(`${gw.url}/dashboard`)
      await p.getByTestId('login').waitFor()
      // With a refusal shown too.
      await p.locator('#token').fill('wrong-token')
      await p.getByTestId('login').click()
      await p.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0)
      expect({ view: 'login', colorScheme, violations: await axeViolations(p) }).toEqual({ view: 'login', colorScheme, violations: [] })
      await context.close()
    })

    test(`every view, ${colorScheme}`, async () => {
      const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 800 }, storageState: session })
      context.setDefaultTimeout(WAIT_MS)
      const found: Record<string, string[]> = {}
      for (const [view, open, dialog] of VIEWS) {
        const p = await context.newPage()
        for (const [name, step] of [[view, open], [`${view}, then`, dialog]] as const) {
          if (!step) continue
          await step(p)
          const violations = await axeViolations(p)
          if (violations.length) {
            found[name] = violations
            await p.screenshot({ path: artifactPath(`dashboard-axe-${colorScheme}-${name.replace(/\W+/g, '-')}.png`) })
          }
        }
        await p.close()
      }
      if (Object.keys(found).length) console.error(Object.entries(found).map(([view, v]) => `${view} (${colorScheme}):\n  ${v.join('\n  ')}`).join('\n'))
      expect(found).toEqual({})
      await context.close()
    }, 60_000)
  }
})
