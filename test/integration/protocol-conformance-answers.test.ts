/**
 * Golden conformance, part 1: what each client protocol gets for each kind of answer, from each
 * provider protocol, streamed and not. Every pair of client (chat completions, Responses,
 * Anthropic Messages, each through its official SDK) and provider (a chat-only OpenAI-compatible
 * mock, a Responses-only mock, an Anthropic mock) runs the same table; the same-protocol pairs are
 * the baseline. The client side is read from what the SDK parsed; the upstream side from the body
 * the mock received, read in that upstream's protocol.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import {
  expected,
  pairName,
  run,
  startConformance,
  UPSTREAM_MODEL,
  WEATHER_SCHEMA,
  WEATHER_TOOL,
  withoutUsage,
  type Conformance,
  type Conversation,
} from '../helpers/conformance-clients.ts'
import { PROTOCOLS, USAGE, type Answer, type Protocol } from '../helpers/conformance-wire.ts'

let c: Conformance
beforeAll(async () => {
  c = await startConformance()
})
afterAll(() => c.stop())
beforeEach(() => c.reset())

/** Tool call ids as each provider mints them (all valid as Anthropic tool_use ids). */
const IDS: Record<Protocol, [string, string]> = {
  chat: ['call_Wq8sLkq2', 'call_Bn4vXc0p'],
  responses: ['call_R3sp0ns1', 'call_R3sp0ns2'],
  anthropic: ['toolu_01A09q90qw90', 'toolu_01B7x8y9z0ab'],
}

const ask = (text: string): Conversation['turns'] => [{ role: 'user', text }]

for (const client of PROTOCOLS) {
  for (const provider of PROTOCOLS) {
    for (const stream of [false, true]) {
      describe(`${pairName(client, provider)}, ${stream ? 'streamed' : 'not streamed'}`, () => {
        test('a text answer, with usage and cached tokens in the client protocol\'s convention', async () => {
          const conv: Conversation = { turns: ask('Say hello.') }
          const answer: Answer = { text: ['Hello', ' world'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
          // chat and Responses count cached tokens inside the input; Anthropic apart (added back by the reader).
          expect(outcome.usage).toEqual({ ...USAGE, total: USAGE.input + USAGE.output })

          const seen = c.seen(provider)
          expect(seen.model).toBe(UPSTREAM_MODEL[provider])
          expect(seen.turns).toEqual(conv.turns)
          const body = c.upstream(provider).body
          // Same protocol on both sides: the body passes unchanged but for the model name.
          if (client === provider) expect(body).toEqual({ ...c.sent.at(-1), model: UPSTREAM_MODEL[provider] })
          // A chat stream reports usage only when asked to.
          if (provider === 'chat' && body.stream) expect(body.stream_options?.include_usage).toBe(true)
          if (provider === 'anthropic') expect(body.max_tokens).toBeGreaterThan(0)
        })

        test('reasoning arrives as the client protocol\'s reasoning', async () => {
          const conv: Conversation = { turns: ask('Is 17 prime?'), reasoning: true }
          const answer: Answer = { reasoning: ['Check divisors ', 'up to 4.'], text: ['Yes, 17 is prime.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
          const seen = c.seen(provider)
          // Asked for: Anthropic thinks only when told to; OpenAI-side effort maps to effort.
          if (provider === 'anthropic') expect(['enabled', 'adaptive']).toContain(seen.reasoning as string)
          else if (client !== 'anthropic') expect(seen.reasoning).toBe('medium')
        })

        test('a function tool declared and called: id, name and arguments as valid JSON', async () => {
          const conv: Conversation = { turns: ask('What is the weather in Paris?'), tools: true }
          const answer: Answer = { calls: [{ id: IDS[provider][0], name: 'get_weather', args: { city: 'Paris' } }], stop: 'tool', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
          expect(c.seen(provider).tools).toEqual([WEATHER_TOOL])
        })

        test('parallel tool calls after some text: both calls, in order', async () => {
          const conv: Conversation = { turns: ask('Weather in Paris and in Oslo?'), tools: true }
          const answer: Answer = {
            text: ['Checking ', 'both.'],
            calls: [
              { id: IDS[provider][0], name: 'get_weather', args: { city: 'Paris' } },
              { id: IDS[provider][1], name: 'get_weather', args: { city: 'Oslo' } },
            ],
            stop: 'tool',
            usage: USAGE,
          }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
        })

        test('max tokens reached: incomplete / length / max_tokens', async () => {
          const conv: Conversation = { turns: ask('Describe the weather in Paris.'), maxTokens: 16 }
          const answer: Answer = { text: ['The weather in Paris is'], stop: 'length', usage: USAGE }
          c.answer(answer)
          const { outcome, final } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
          if (client === 'responses') expect([final.status, final.incomplete_details]).toEqual(['incomplete', { reason: 'max_output_tokens' }])
          expect(c.seen(provider).maxTokens).toBe(16)
        })

        test('structured output: the JSON schema reaches the upstream in its shape', async () => {
          const conv: Conversation = { turns: ask('The weather in Paris, as JSON.'), schema: true }
          const answer: Answer = { text: ['{"city":"Par', 'is","celsius":21}'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expect(withoutUsage(outcome)).toEqual(expected(answer))
          expect(JSON.parse(outcome.text)).toEqual({ city: 'Paris', celsius: 21 })
          const { schema } = c.seen(provider)
          expect(schema?.schema).toEqual(WEATHER_SCHEMA)
          // chat's response_format and Responses' text.format both require a name.
          if (provider !== 'anthropic') expect(schema?.name).toBeString()
          if (provider !== 'anthropic') expect(schema!.name!.length).toBeGreaterThan(0)
        })
      })
    }
  }
}
