import { describe, expect, test } from 'bun:test'
import { boundedCount, metered, type UsageBound } from '../../src/gateway/usage.ts'
import { anthropicUsage } from '../../src/protocols/anthropic/usage.ts'
import { chatUsage } from '../../src/protocols/openai-chat/usage.ts'

const usageFromOpenAI = (raw: unknown, b: UsageBound) => metered(chatUsage(raw, boundedCount(b)))
const usageFromAnthropic = (raw: unknown, b: UsageBound) => metered(anthropicUsage(raw, boundedCount(b)))
import { declaredOver, readBounded } from '../../src/lib/bounded-read.ts'
import type { ByteReader } from '../../src/lib/sse.ts'

/** A reader of `count` chunks of `size` bytes that records whether it was cancelled. */
function chunks(count: number, size: number): ByteReader & { taken: number; cancelled: boolean } {
  const r = {
    taken: 0,
    cancelled: false,
    async read() {
      if (r.cancelled || r.taken >= count) return { done: true as const }
      r.taken++
      return { done: false as const, value: new Uint8Array(size).fill(97) }
    },
    async cancel() {
      r.cancelled = true
    },
  }
  return r
}

describe('a bounded read', () => {
  test('a body within the limit comes out whole', async () => {
    const body = await readBounded(chunks(3, 100), 300)
    expect(body).toMatchObject({ complete: true, read: 300 })
    expect(body.bytes.length).toBe(300)
  })

  test('past the limit it stops, cancels the rest and keeps nothing', async () => {
    const reader = chunks(1000, 100)
    const body = await readBounded(reader, 250)
    expect(body.complete).toBe(false)
    expect(body.bytes.length).toBe(0)
    expect(reader.taken).toBe(3)
    expect(reader.cancelled).toBe(true)
  })

  test('an error body keeps its first bytes up to the limit', async () => {
    const body = await readBounded(chunks(1000, 100), 250, true)
    expect(body.complete).toBe(false)
    expect(body.bytes.length).toBe(250)
  })

  test('a declared length is believed only for an uncompressed body', () => {
    expect(declaredOver(new Headers({ 'content-length': '2000' }), 1000)).toBe(true)
    expect(declaredOver(new Headers({ 'content-length': '500' }), 1000)).toBe(false)
    expect(declaredOver(new Headers({ 'content-length': '2000', 'content-encoding': 'gzip' }), 1000)).toBe(false)
  })
})

describe('reported usage', () => {
  const bound = () => {
    const seen: Array<[string, unknown]> = []
    const b: UsageBound & { seen: typeof seen } = { max: 1000, seen, absurd: (field, value) => void seen.push([field, value]) }
    return b
  }

  test('counts above the bound are clamped to it, and told', () => {
    const b = bound()
    expect(usageFromOpenAI({ prompt_tokens: 1e15, completion_tokens: 7 }, b)).toMatchObject({ promptTokens: 1000, completionTokens: 7 })
    expect(b.seen).toEqual([['prompt_tokens', 1e15]])
  })

  test('counts that are not non-negative integers are zero, and told; missing ones are zero, silently', () => {
    const b = bound()
    const u = usageFromAnthropic({ input_tokens: -3, output_tokens: 2.5, cache_read_input_tokens: '9' }, b)
    expect(u).toEqual({ promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 })
    expect(b.seen.map(([f]) => f).sort()).toEqual(['cache_read_input_tokens', 'input_tokens', 'output_tokens'])
  })

  test('honest counts pass unchanged', () => {
    const b = bound()
    expect(usageFromOpenAI({ prompt_tokens: 11, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 3 } }, b)).toEqual({
      promptTokens: 11,
      completionTokens: 7,
      cachedTokens: 3,
      reasoningTokens: 0,
    })
    expect(b.seen).toEqual([])
  })
})
