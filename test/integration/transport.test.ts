import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { CLIENT_KEY, startGateway } from '../helpers/gateway.ts'
import { chat } from '../helpers/http.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

let mock: MockUpstream
let proxy: ReturnType<typeof Bun.serve>
const proxied: string[] = []

beforeAll(() => {
  mock = startMockUpstream()
  // A minimal forward proxy: it receives absolute-form request targets and forwards them.
  proxy = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      proxied.push(`${req.method} ${req.url}`)
      return fetch(req.url, { method: req.method, headers: req.headers, body: req.body })
    },
  })
})
afterAll(() => {
  mock.stop()
  proxy.stop(true)
})

describe('upstream transport', () => {
  test('a provider with `proxy:` sends its requests (and model discovery) through that HTTP proxy, with its extra headers', async () => {
    const gw = await startGateway({
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [
        {
          name: 'behind',
          type: 'openai',
          base_url: mock.baseUrl,
          keys: ['k-ok'],
          proxy: `http://127.0.0.1:${proxy.port}`,
          headers: { 'x-org-id': 'org-7' },
        },
        { name: 'direct', type: 'openai', base_url: mock.baseUrl, keys: ['k-ok'], models: ['m'] },
      ],
    })
    const res = await chat(gw.baseURL, { model: 'behind/mock-model' })
    expect(res.status).toBe(200)
    expect(proxied).toContain(`POST ${mock.baseUrl}/chat/completions`)
    expect(proxied).toContain(`GET ${mock.baseUrl}/models`)
    expect(mock.requests.at(-1)!.headers['x-org-id']).toBe('org-7')
    const count = proxied.length
    expect((await chat(gw.baseURL, { model: 'direct/m' })).status).toBe(200)
    expect(proxied.length).toBe(count)
    await gw.stop()
  })

  test('connections to an upstream are kept alive and reused', async () => {
    const ports = new Set<number>()
    const counting = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(req, server) {
        ports.add(server.requestIP(req)!.port)
        return Response.json({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] })
      },
    })
    const gw = await startGateway({
      auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
      providers: [{ name: 'p', type: 'openai', base_url: `http://127.0.0.1:${counting.port}/v1`, keys: ['k'], models: ['m'] }],
    })
    for (let i = 0; i < 10; i++) expect((await chat(gw.baseURL, { model: 'm' })).status).toBe(200)
    expect(ports.size).toBe(1)
    await gw.stop()
    counting.stop(true)
  })
})
