import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { fingerprint } from '../../src/lib/crypto.ts'
import { CLIENT_KEY, startGateway } from '../helpers/gateway.ts'
import { admin, chat } from '../helpers/http.ts'
import { chunk, keyOf, sse, startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

const ADMIN = 'admin-token-for-reload-tests'
let mock: MockUpstream
beforeAll(() => {
  mock = startMockUpstream()
})
afterAll(() => mock.stop())

const yaml = (providers: string, extra = '') => `admin: { token: ${ADMIN} }
auth: { keys: [{ name: tester, key: ${CLIENT_KEY} }] }
${extra}
providers:
${providers}`

const p = (name: string, keys: string[], models = ['m']) =>
  `  - { name: ${name}, type: openai, base_url: "${mock.baseUrl}", keys: [${keys.join(', ')}], models: [${models.join(', ')}] }\n`

describe('config reload', () => {
  test('a valid file is swapped in and the reply says what changed, without secrets', async () => {
    const gw = await startGateway(yaml(p('main', ['k-401-old', 'k-ok-keep'])))
    // Learn something about a key that stays: the disabled one must stay disabled.
    expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(200)
    writeFileSync(
      gw.configPath,
      yaml(p('main', ['k-401-old', 'k-ok-keep', 'k-ok-new']) + p('extra', ['k-ok-x'], ['x-model']), 'aliases: [{ name: best, targets: [extra/x-model] }]'),
    )
    const res = await admin(gw.url, ADMIN, '/reload', 'POST')
    expect(res.status).toBe(200)
    const body: any = await res.json()
    expect(body.changes.providers).toEqual({ added: ['extra'], removed: [], modified: ['main'] })
    expect(body.changes.keys.added.sort()).toEqual([`extra:${fingerprint('k-ok-x')}`, `main:${fingerprint('k-ok-new')}`].sort())
    expect(body.changes.aliases.added).toEqual(['best'])
    expect(JSON.stringify(body)).not.toContain('k-ok-new')
    expect((await chat(gw.baseURL, { model: 'best' })).headers.get('x-sluice-provider')).toBe('extra')
    const providers: any = await (await admin(gw.url, ADMIN, '/providers')).json()
    const main = providers.data.find((x: any) => x.name === 'main')
    expect(main.keys_detail.map((k: any) => k.state)).toEqual(['disabled', 'usable', 'usable'])
    expect(gw.logs.some((l) => l.includes('config reloaded'))).toBe(true)
    await gw.stop()
  })

  test('an invalid file is refused with the field path, and the last good config stays in force', async () => {
    const gw = await startGateway(yaml(p('main', ['k-ok-1'])))
    writeFileSync(gw.configPath, yaml(p('main', ['k-ok-1']).replace('type: openai', 'type: openai, colour: blue')))
    const res = await admin(gw.url, ADMIN, '/reload', 'POST')
    expect(res.status).toBe(400)
    const body: any = await res.json()
    expect(body.error.message).toContain('providers[0].colour: unknown field')
    expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(200)
    await gw.stop()
  })

  test('reloads under traffic lose no request, and a stream that started before finishes on the old config', async () => {
    const gw = await startGateway(yaml(p('main', ['k-ok-1'])))
    mock.handler = (_req, body) => {
      if (!body.stream) return Response.json({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] })
      return new Response(sse([...'abcdefgh'.split('').map((c) => chunk({ content: c })), chunk({}, 'stop'), '[DONE]'], 40), {
        headers: { 'content-type': 'text/event-stream' },
      })
    }
    const streamed = chat(gw.baseURL, { model: 'm', stream: true }).then((r) => r.text())
    const statuses: number[] = []
    const deadline = Date.now() + 1500
    const traffic = (async () => {
      while (Date.now() < deadline && statuses.length < 300) statuses.push((await chat(gw.baseURL, { model: 'm' })).status)
    })()
    for (let i = 0; i < 6; i++) {
      const keys = i % 2 ? ['k-ok-1'] : ['k-ok-1', `k-ok-${i}`]
      writeFileSync(gw.configPath, yaml(p('main', keys) + (i % 2 ? '' : p('other', ['k-ok-o'], ['o']))))
      expect((await admin(gw.url, ADMIN, '/reload', 'POST')).status).toBe(200)
      await Bun.sleep(100)
    }
    await traffic
    const text = await streamed
    mock.handler = null
    expect(statuses.length).toBeGreaterThan(10)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(text.match(/"content":"[a-h]"/g)!.length).toBe(8)
    await gw.stop()
  })

  test('a removed key takes no new traffic after the reload', async () => {
    const gw = await startGateway(yaml(p('main', ['k-ok-a', 'k-ok-b'])))
    writeFileSync(gw.configPath, yaml(p('main', ['k-ok-b'])))
    const body: any = await (await admin(gw.url, ADMIN, '/reload', 'POST')).json()
    expect(body.changes.keys.removed).toEqual([`main:${fingerprint('k-ok-a')}`])
    const before = mock.requests.length
    for (let i = 0; i < 3; i++) await chat(gw.baseURL, { model: 'm' })
    expect(mock.requests.slice(before).map(keyOf)).toEqual(['k-ok-b', 'k-ok-b', 'k-ok-b'])
    await gw.stop()
  })
})

describe('settings on reload', () => {
  test('a new admin token is in force at once; the old one is refused; a queue size change says it needs a restart', async () => {
    const gw = await startGateway(yaml(p('main', ['k-ok-1'])))
    const next = 'admin-token-after-reload-0123456789'
    writeFileSync(gw.configPath, yaml(p('main', ['k-ok-1']), 'logging: { queue_size: 777 }').replace(`token: ${ADMIN}`, `token: ${next}`))
    const res = await admin(gw.url, ADMIN, '/reload', 'POST')
    expect(res.status).toBe(200)
    const body: any = await res.json()
    expect(body.changes.settings_applied).toContain('admin.token')
    expect(body.changes.restart_required).toEqual(['logging.queue_size'])
    expect((await admin(gw.url, ADMIN, '/providers')).status).toBe(401)
    expect((await admin(gw.url, next, '/providers')).status).toBe(200)
    await gw.stop()
  })
})
