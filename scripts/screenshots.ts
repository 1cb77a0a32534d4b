// Writes the README's screenshots: every dashboard view, light and dark, English and Chinese, of a
// gateway in front of a mock upstream with a day of made-up traffic. `npx bun scripts/screenshots.ts`
// (Chromium as in the dashboard tests; Chinese needs a CJK font: apt-get install fonts-noto-cjk).
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { launchBrowser } from '../test/helpers/browser.ts'
import { startGateway } from '../test/helpers/gateway.ts'
import { chunk, MOCK_USAGE, sse, startMockUpstream } from '../test/helpers/mock-upstream.ts'

const OUT = 'docs/screenshots'
const ADMIN = 'screenshots-admin-token-0001'
const VIEWPORT = { width: 1280, height: 800 }
const HOUR = 3_600_000

/** Each view and what shows that it has loaded. */
const VIEWS: Array<[string, (p: Page) => Promise<unknown>]> = [
  ['overview', async (p) => {
    await p.locator('#trend canvas').waitFor()
    await p.locator('#tby').selectOption('model')
    await p.waitForFunction(() => (globalThis as any).document.querySelector('#trend .u-series .u-label[translate=no]'))
  }],
  ['providers', (p) => p.locator('[data-testid^=key-fp_]').first().waitFor()],
  ['keys', (p) => p.getByTestId('keyrow-laptop').waitFor()],
  ['usage', (p) => p.getByTestId('usage-row').first().waitFor()],
  ['requests', (p) => p.getByTestId('request-row').first().waitFor()],
  ['connect', (p) => p.getByTestId('snippet-curl-0').waitFor()],
]

const fonts = Bun.which('fc-list') ? Bun.spawnSync(['fc-list', ':lang=zh', 'family']).stdout.toString().trim() : ''
if (!fonts) console.warn('warning: no CJK font installed (fc-list :lang=zh finds none): the Chinese screenshots will show boxes. apt-get install fonts-noto-cjk')

// A mock upstream that takes a little while, streams when asked, and knows a few models.
const mock = startMockUpstream(['gpt-4o-mini', 'gpt-4.1', 'deepseek-chat', 'claude-sonnet-4-5'])
mock.handler = async (_req, body, seen) => {
  if (seen.path === '/v1/models') return Response.json({ object: 'list', data: mock.models.map((id) => ({ id, object: 'model' })) })
  await Bun.sleep(20 + Math.random() * (body?.model === 'gpt-4.1' ? 900 : 300))
  const usage = { ...MOCK_USAGE, prompt_tokens: 200 + Math.floor(Math.random() * 1800), completion_tokens: 50 + Math.floor(Math.random() * 600) }
  if (body?.stream) {
    const events = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello! ' }), chunk({ content: 'How can I help?' }), chunk({}, 'stop'), { ...chunk({}), choices: [], usage }, '[DONE]']
    return new Response(sse(events, 40), { headers: { 'content-type': 'text/event-stream' } })
  }
  return Response.json({ id: 'c1', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }], usage })
}

// The clock is moved back to make traffic over the last day, then put right.
let offset = 0
const gw = await startGateway(
  {
    admin: { token: ADMIN },
    providers: [
      { name: 'openai', type: 'openai', base_url: mock.baseUrl, keys: ['sk-proj-demo-key-000000a1b2', 'sk-proj-demo-key-000000c3d4'], models: ['gpt-4o-mini', 'gpt-4.1'] },
      { name: 'deepseek', type: 'openai', base_url: mock.baseUrl, keys: ['sk-deepseek-demo-0000e5f6'], models: ['deepseek-chat'] },
      { name: 'claude', type: 'openai', base_url: mock.baseUrl, keys: ['sk-ant-demo-key-000000g7h8'], models: ['claude-sonnet-4-5'] },
    ],
    aliases: [{ name: 'smart', targets: ['openai/gpt-4.1', 'claude/claude-sonnet-4-5'] }],
    prices: {
      'openai/gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
      'openai/gpt-4.1': { prompt: 2, completion: 8 },
      'deepseek/deepseek-chat': { prompt: 0.27, completion: 1.1 },
    },
  },
  {},
  { now: () => Date.now() - offset },
)

async function adminApi(path: string, body?: object): Promise<any> {
  const res = await fetch(`${gw.url}/admin/api${path}`, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  return res.json()
}

try {
  const keys = [
    await adminApi('/keys', { name: 'laptop' }),
    await adminApi('/keys', { name: 'ci-bot', rpm: 60, models: ['openai/*', 'deepseek-chat'] }),
    await adminApi('/keys', { name: 'web-app', quota: { period: 'day', tokens: 2_000_000, timezone: 'Asia/Shanghai' } }),
    await adminApi('/keys', { name: 'intern', expires_at: '2027-06-30', quota: { period: 'month', budget_usd: 20 } }),
  ]
  const models = ['gpt-4o-mini', 'gpt-4o-mini', 'deepseek-chat', 'deepseek-chat', 'smart', 'claude-sonnet-4-5', 'gpt-4.1']
  const ask = (key: string, model: string, stream = false) =>
    fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Hello' }] }),
    }).then((r) => r.text())
  // More in the working hours, a few errors (an unknown model, a model a key may not use).
  for (let h = 23; h >= 0; h--) {
    offset = h * HOUR
    const busy = Math.round(4 + 10 * Math.max(0, Math.sin(((24 - h) / 24) * Math.PI)))
    await Promise.all(Array.from({ length: busy }, (_, i) => ask(keys[i % keys.length]!.key, models[(i + h) % models.length]!, i % 3 === 0)))
    if (h % 5 === 0) await ask(keys[0]!.key, 'gpt-5-preview')
    if (h % 7 === 0) await ask(keys[1]!.key, 'claude-sonnet-4-5')
  }
  offset = 0
  await Promise.all(Array.from({ length: 12 }, (_, i) => ask(keys[i % keys.length]!.key, models[i % models.length]!, i % 2 === 0)))
  // The request log and the aggregates are written a moment later.
  await Bun.sleep(1500)

  mkdirSync(OUT, { recursive: true })
  const browser = await launchBrowser()
  const login = await browser.newPage()
  await login.goto(`${gw.url}/dashboard`)
  await login.locator('#token').fill(ADMIN)
  await login.getByTestId('login').click()
  await login.getByTestId('stat-requests').waitFor()
  const storageState = await login.context().storageState()
  await login.context().close()
  for (const lang of ['en', 'zh'] as const) {
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ viewport: VIEWPORT, colorScheme, locale: lang === 'zh' ? 'zh-CN' : 'en-US', timezoneId: 'UTC', storageState })
      context.setDefaultTimeout(10_000)
      for (const [view, ready] of VIEWS) {
        const p = await context.newPage()
        await p.goto(`${gw.url}/dashboard#${view}`)
        await ready(p)
        await p.evaluate(() => (globalThis as any).document.fonts.ready)
        await p.screenshot({ path: join(OUT, `${view}-${lang}-${colorScheme}.png`) })
        await p.close()
      }
      await context.close()
    }
  }
  await browser.close()
  const files = readdirSync(OUT).filter((f) => f.endsWith('.png'))
  const total = files.reduce((sum, f) => sum + statSync(join(OUT, f)).size, 0)
  console.log(`wrote ${files.length} screenshots to ${OUT}: ${(total / 1024).toFixed(0)} KiB`)
} finally {
  await gw.stop()
  mock.stop()
}
