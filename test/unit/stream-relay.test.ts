import { describe, expect, test } from 'bun:test'
import { relayStream, type Delivered } from '../../src/gateway/streams/stream-relay.ts'
import { metered } from '../../src/gateway/usage.ts'
import { openaiChat } from '../../src/protocols/openai-chat/index.ts'
import type { UpstreamCall } from '../../src/gateway/upstream/upstream-call.ts'
import type { Usage } from '../../src/gateway/usage.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()

const content = (i: number, eol = '\n') =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"t${i}"},"finish_reason":null}],"usage":null}${eol}${eol}`
const finish = (eol = '\n') => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}${eol}${eol}`
const usage = (eol = '\n') =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}${eol}${eol}`
const done = (eol = '\n') => `data: [DONE]${eol}${eol}`

const call = { finish() {}, reading() {}, touch() {}, abort() {}, failure: (e: unknown) => e as Error } as unknown as UpstreamCall

/** Relays the chunks as an upstream would send them; returns what the client got and what was recorded. */
async function relay(chunks: string[], stripUsageChunk: boolean) {
  const queue = chunks.map((c) => enc.encode(c))
  const first = queue.shift()!
  const reader = {
    read: async () => (queue.length ? { done: false as const, value: queue.shift()! } : { done: true as const }),
    cancel: async () => {},
  }
  let seen: Usage | undefined
  let delivered: Delivered | undefined
  const stream = relayStream(reader, first, {
    call,
    watch: openaiChat.usageWatcher({ wantsUsage: !stripUsageChunk }, (u) => (seen = metered(u))),
    maxEventBytes: 1024 * 1024,
    heartbeatMs: 0,
    heartbeat: enc.encode(': ping\n\n'),
    renderError: () => enc.encode('error\n\n'),
    onEnd: (_outcome, d) => (delivered = d),
  })
  const out = dec.decode(await new Response(stream).arrayBuffer())
  return { out, usage: seen, delivered }
}

describe('the passthrough relay', () => {
  for (const eol of ['\n', '\r\n']) {
    const name = eol === '\n' ? 'LF' : 'CRLF'
    const events = [content(1, eol), content(2, eol), content(3, eol), finish(eol), usage(eol), done(eol)]

    test(`${name}: a chunk of many events with usage near its end; the usage chunk the gateway asked for is dropped`, async () => {
      const r = await relay([events.join('')], true)
      expect(r.out).toBe([content(1, eol), content(2, eol), content(3, eol), finish(eol), done(eol)].join(''))
      expect(r.usage).toMatchObject({ promptTokens: 7, completionTokens: 3 })
      expect(r.delivered?.events).toBe(5)
    })

    test(`${name}: a client that asked for usage gets every byte as sent`, async () => {
      const r = await relay([events.join('')], false)
      expect(r.out).toBe(events.join(''))
      expect(r.usage).toMatchObject({ promptTokens: 7, completionTokens: 3 })
      expect(r.delivered?.events).toBe(6)
    })

    test(`${name}: the same events cut at odd places across chunks`, async () => {
      const all = events.join('')
      const cuts = [5, 61, 140, 141, all.length - 30, all.length - 3]
      const chunks = cuts.map((end, i) => all.slice(i === 0 ? 0 : cuts[i - 1], end)).concat(all.slice(cuts.at(-1)))
      const r = await relay(chunks, true)
      expect(r.out).toBe([content(1, eol), content(2, eol), content(3, eol), finish(eol), done(eol)].join(''))
      expect(r.usage).toMatchObject({ promptTokens: 7, completionTokens: 3 })
    })
  }

  test('the usage event first in its chunk, and one chunk per event', async () => {
    const r1 = await relay([content(1) + finish(), usage() + done()], true)
    expect(r1.out).toBe(content(1) + finish() + done())
    const r2 = await relay([content(1), finish(), usage(), done()], true)
    expect(r2.out).toBe(content(1) + finish() + done())
    expect(r2.usage).toMatchObject({ completionTokens: 3 })
  })
})
