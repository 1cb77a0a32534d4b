import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { chromiumPath, launchBrowser } from '../helpers/browser.ts'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { INSTANCE_ID } from '../../src/server.ts'

// Code in page.evaluate runs in the browser, where document exists.
declare const document: any

const ADMIN = 'dashboard-instances-admin-token'
const WAIT_MS = 8_000
const run = chromiumPath !== null || process.env.CI !== undefined
if (!run) console.warn('dashboard instances end-to-end tests skipped: no Chromium (apt-get install chromium)')

describe.if(run)('the dashboard lists the instances sharing the database', () => {
  let mock: MockUpstream
  let gw: TestGateway
  let browser: Browser

  beforeAll(async () => {
    mock = startMockUpstream(['mock-model'])
    gw = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'up', type: 'openai', base_url: mock.baseUrl, keys: ['sk-instances-key-000000000001'], models: ['mock-model'] }],
    })
    browser = await launchBrowser()
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    mock?.stop()
  })

  async function overview(locale: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale })
    page.context().setDefaultTimeout(WAIT_MS)
    await page.goto(`${gw.url}/dashboard`)
    await page.locator('#token').fill(ADMIN)
    await page.getByTestId('login').click()
    await page.getByTestId(`instance-${INSTANCE_ID}`).waitFor()
    return page
  }

  test('in English: this instance, marked as this one, up', async () => {
    const page = await overview('en-US')
    const row = page.getByTestId(`instance-${INSTANCE_ID}`)
    expect(await row.getAttribute('data-self')).toBe('true')
    expect(await row.textContent()).toContain(INSTANCE_ID)
    expect(await row.getByTestId('instance-self').textContent()).toBe('this one')
    expect(await row.textContent()).toContain('up')
    expect(await page.locator('#tab-overview h2', { hasText: 'Instances' }).count()).toBe(1)
    expect(await page.getByTestId('instances-note').textContent()).toContain('this instance only')
    await page.close()
  })

  test('in Chinese: the same panel, no English left in it', async () => {
    const page = await overview('zh-CN')
    const row = page.getByTestId(`instance-${INSTANCE_ID}`)
    expect(await row.getByTestId('instance-self').textContent()).toBe('本实例')
    expect(await row.textContent()).toContain('运行中')
    expect(await page.locator('#tab-overview h2', { hasText: '实例' }).count()).toBe(1)
    expect(await page.getByTestId('instances-note').textContent()).toContain('仅显示本实例')
    const cells = await page.evaluate(() => [...document.querySelectorAll('#instances th, #instances td, #instances-note')].map((el: any) => el.innerText))
    const leftovers = cells.join(' ').replace(INSTANCE_ID, '').replace(/Redis/g, '').match(/[A-Za-z]{2,}/g) ?? []
    expect(leftovers).toEqual([])
    await page.close()
  })
})
