/**
 * Golden conformance, part 2: what each provider protocol receives for each kind of request, from
 * each client protocol, streamed and not: a multi-turn history with system instructions, tool
 * results sent back in the next turn, an image. The neutral reading of the upstream body must be
 * the conversation the client sent; the shape rules each upstream enforces (a tool message right
 * after the calls, tool_result blocks first in one user message, call_id rather than the item id)
 * are checked on the raw body too.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { pairName, run, startConformance, WEATHER_TOOL, type Conformance, type Conversation } from '../helpers/conformance-clients.ts'
import { PROTOCOLS, USAGE, type Answer } from '../helpers/conformance-wire.ts'

let c: Conformance
beforeAll(async () => {
  c = await startConformance()
})
afterAll(() => c.stop())
beforeEach(() => c.reset())

/** A 1x1 red PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='

const HISTORY: Conversation = {
  system: ['Be brief.', 'Use metric units.'],
  turns: [
    { role: 'user', text: 'Hi, I am planning a trip.' },
    { role: 'assistant', text: 'Great, where to?' },
    { role: 'user', text: 'Paris. What is the weather like?' },
  ],
}

const CALL_A = { id: 'call_a1Paris', name: 'get_weather', args: { city: 'Paris' } }
const CALL_B = { id: 'call_b2Oslo', name: 'get_weather', args: { city: 'Oslo' } }
const TOOL_ROUND: Conversation = {
  system: ['Be brief.'],
  tools: true,
  turns: [
    { role: 'user', text: 'Weather in Paris and Oslo?' },
    { role: 'assistant', text: 'Checking both.', calls: [CALL_A, CALL_B] },
    { role: 'tool', callId: CALL_A.id, output: 'sunny, 21 C' },
    { role: 'tool', callId: CALL_B.id, output: 'rain, 9 C' },
  ],
}

const IMAGE: Conversation = { turns: [{ role: 'user', text: 'What is in this image?', images: [{ mediaType: 'image/png', data: PNG }] }] }

for (const client of PROTOCOLS) {
  for (const provider of PROTOCOLS) {
    for (const stream of [false, true]) {
      describe(`${pairName(client, provider)}, ${stream ? 'streamed' : 'not streamed'}`, () => {
        test('multi-turn history: system instructions lead, user and assistant turns in order', async () => {
          const answer: Answer = { text: ['Mild, ', 'about 18 C.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, HISTORY, stream)
          expect(outcome.text).toBe('Mild, about 18 C.')
          const seen = c.seen(provider)
          expect(seen.system).toBe('Be brief. Use metric units.')
          expect(seen.turns).toEqual(HISTORY.turns)
          const body = c.upstream(provider).body
          // Responses instructions / chat system / Anthropic system: where each protocol puts them.
          if (provider === 'chat') expect(['system', 'developer']).toContain(body.messages[0].role)
          if (provider === 'chat') expect(JSON.stringify(body.messages[0].content)).toContain('Be brief.')
          if (provider === 'anthropic') expect(JSON.stringify(body.system)).toContain('Be brief.')
          if (provider === 'anthropic') expect(body.messages[0].role).toBe('user')
          if (client === 'responses' && provider === 'responses') expect(body.instructions).toBe('Be brief.')
        })

        test('tool results sent back in the next turn arrive in the upstream\'s shape, matched by call id', async () => {
          const answer: Answer = { text: ['Paris is sunny; ', 'Oslo is rainy.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, TOOL_ROUND, stream)
          expect(outcome.text).toBe('Paris is sunny; Oslo is rainy.')
          const seen = c.seen(provider)
          expect(seen.turns).toEqual(TOOL_ROUND.turns)
          expect(seen.tools).toEqual([WEATHER_TOOL])
          const body = c.upstream(provider).body
          if (provider === 'chat') {
            // One assistant message with both calls, then one tool message per call right after it.
            const at = body.messages.findIndex((m: any) => m.tool_calls)
            expect(body.messages.slice(at).map((m: any) => m.role)).toEqual(['assistant', 'tool', 'tool'])
            expect(body.messages[at].tool_calls.map((t: any) => [t.type, t.id])).toEqual([['function', CALL_A.id], ['function', CALL_B.id]])
          }
          if (provider === 'anthropic') {
            // The results of both calls in ONE user message right after the assistant's tool_use blocks.
            const at = body.messages.findIndex((m: any) => Array.isArray(m.content) && m.content.some((b: any) => b.type === 'tool_use'))
            expect(body.messages.slice(at).map((m: any) => m.role)).toEqual(['assistant', 'user'])
            expect(body.messages[at + 1].content.map((b: any) => [b.type, b.tool_use_id])).toEqual([['tool_result', CALL_A.id], ['tool_result', CALL_B.id]])
          }
          if (provider === 'responses') {
            // Items keyed by call_id (the client's fc_ item ids are not call ids).
            const items = body.input.filter((i: any) => i.type === 'function_call' || i.type === 'function_call_output')
            expect(items.map((i: any) => [i.type, i.call_id])).toEqual([
              ['function_call', CALL_A.id],
              ['function_call', CALL_B.id],
              ['function_call_output', CALL_A.id],
              ['function_call_output', CALL_B.id],
            ])
          }
        })

        test('an image input (data: URL, base64 PNG) reaches the upstream as its image type', async () => {
          const answer: Answer = { text: ['A red pixel.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, IMAGE, stream)
          expect(outcome.text).toBe('A red pixel.')
          expect(c.seen(provider).turns).toEqual(IMAGE.turns)
        })
      })
    }
  }
}
