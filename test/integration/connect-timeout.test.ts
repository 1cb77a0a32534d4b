import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Subprocess } from 'bun'
import OpenAI from 'openai'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'

let listener: Subprocess<'ignore', 'pipe', 'inherit'>
let gw: TestGateway

beforeAll(async () => {
  listener = Bun.spawn(['python3', 'test/fixtures/blackhole-listener.py'], { stdout: 'pipe' })
  const reader = listener.stdout.getReader()
  const { value } = await reader.read()
  const port = Number(new TextDecoder().decode(value).trim())
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      {
        name: 'blackhole',
        type: 'openai',
        base_url: `http://127.0.0.1:${port}/v1`,
        keys: ['k'],
        models: ['m'],
        timeouts: { connect_ms: 300, first_byte_ms: 20_000 },
      },
    ],
  })
})
afterAll(async () => {
  await gw.stop()
  listener.kill()
})

describe('connect timeout', () => {
  test('an upstream that never completes the TCP handshake fails after connect_ms with a 504', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const started = Date.now()
    let error: any
    try {
      await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    } catch (err) {
      error = err
    }
    expect(error?.status).toBe(504)
    expect(error.message).toContain('could not connect within 300 ms')
    // Well before the 20 s first-byte timeout that would otherwise have fired.
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
