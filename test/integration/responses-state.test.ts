import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Conversation state on the gateway: a provider that keeps none (chat completions here) still
// serves previous_response_id, GET and DELETE, per client key, within the configured bounds.
const OTHER_KEY = 'sk-test-other-client-key-987654'
let mock: MockUpstream
let gw: TestGateway
let dir: string
const config = (mockUrl: string) => ({
  auth: { keys: [{ name: 'tester', key: CLIENT_KEY }, { name: 'other', key: OTHER_KEY }] },
  providers: [{ name: 'chat', type: 'openai', base_url: mockUrl, keys: ['k'], models: ['m'], api: 'chat' }],
  responses: { max_stored_bytes: 20_000 },
})
const client = (key = CLIENT_KEY) => new OpenAI({ apiKey: key, baseURL: gw.baseURL, maxRetries: 0 })
/** The HTTP status an SDK call ended with (its promise type does not suit expect().rejects). */
const status = (call: PromiseLike<unknown>) => Promise.resolve(call).then(() => 200, (e: any) => e.status as number)
const lastMessages = () => mock.requests.at(-1)!.body.messages

beforeAll(async () => {
  mock = startMockUpstream(['m'])
  dir = mkdtempSync(join(tmpdir(), 'sluice-state-'))
  gw = await startGateway(config(mock.baseUrl), {}, { dir })
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('previous_response_id in front of a provider without state', () => {
  test('a continuation gets the whole conversation; the new instructions only', async () => {
    const first = await client().responses.create({ model: 'm', instructions: 'Old rules.', input: 'My name is Ada.' })
    expect(first.id).toStartWith('resp_')
    const answer = first.output_text
    expect(answer.length).toBeGreaterThan(0)
    await client().responses.create({ model: 'm', instructions: 'New rules.', input: 'What is my name?', previous_response_id: first.id })
    expect(lastMessages()).toEqual([
      { role: 'system', content: 'New rules.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: answer },
      { role: 'user', content: 'What is my name?' },
    ])
  })

  test('a streamed answer is kept too, and chains: each continuation can be continued', async () => {
    const first = await client().responses.stream({ model: 'm', input: 'one' }).finalResponse()
    const second = await client().responses.stream({ model: 'm', input: 'two', previous_response_id: first.id }).finalResponse()
    await client().responses.create({ model: 'm', input: 'three', previous_response_id: second.id })
    expect(lastMessages().filter((m: any) => m.role === 'user').map((m: any) => m.content)).toEqual(['one', 'two', 'three'])
    expect(lastMessages().filter((m: any) => m.role === 'assistant')).toHaveLength(2)
  })

  test('GET returns the response as the client got it; DELETE removes it; both are per key', async () => {
    const created = await client().responses.create({ model: 'm', input: 'keep me' })
    const read = await client().responses.retrieve(created.id)
    expect(read.id).toBe(created.id)
    expect(read.output_text).toBe(created.output_text)
    // Another client key sees nothing, neither by reading nor by continuing.
    expect(await status(client(OTHER_KEY).responses.retrieve(created.id))).toBe(404)
    expect(await status(client(OTHER_KEY).responses.create({ model: 'm', input: 'x', previous_response_id: created.id }))).toBe(400)
    expect(await status(client(OTHER_KEY).responses.delete(created.id))).toBe(404)
    await client().responses.delete(created.id)
    expect(await status(client().responses.retrieve(created.id))).toBe(404)
    const err = await client().responses.create({ model: 'm', input: 'x', previous_response_id: created.id }).catch((e) => e)
    expect(err.status).toBe(400)
    expect(err.message).toContain('not found')
  })

  test('store: false keeps nothing; a conversation over max_stored_bytes is not kept', async () => {
    const unstored = await client().responses.create({ model: 'm', input: 'secret', store: false })
    expect(await status(client().responses.retrieve(unstored.id))).toBe(404)
    const big = await client().responses.create({ model: 'm', input: 'x'.repeat(30_000) })
    expect(await status(client().responses.retrieve(big.id))).toBe(404)
    expect(gw.logs.some((l) => l.includes('response not kept'))).toBe(true)
  })

  test('kept responses survive a restart (they are in the database)', async () => {
    const created = await client().responses.create({ model: 'm', input: 'remember across restarts' })
    // The write is in the background: wait until the row is there before stopping.
    await Bun.sleep(200)
    await gw.stop()
    gw = await startGateway(config(mock.baseUrl), {}, { dir })
    const read = await client().responses.retrieve(created.id)
    expect(read.output_text).toBe(created.output_text)
    await client().responses.create({ model: 'm', input: 'and now?', previous_response_id: created.id })
    expect(lastMessages()[0]).toEqual({ role: 'user', content: 'remember across restarts' })
  })
})
