/**
 * Golden conformance, part 1: what each client protocol gets for each kind of answer, from each
 * provider protocol, streamed and not. Every pair of client (chat completions, Responses,
 * Anthropic Messages, Gemini generateContent, each through its official SDK) and provider (a
 * chat-only OpenAI-compatible mock, a Responses-only mock, an Anthropic mock, a Gemini mock) runs
 * the same table; the same-protocol pairs are the baseline. The client side is read from what the
 * SDK parsed; the upstream side from the body the mock received, read in that upstream's protocol.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import {
  expectAnswer,
  expectedUsage,
  pairName,
  run,
  startConformance,
  UPSTREAM_MODEL,
  WEATHER_SCHEMA,
  WEATHER_TOOL,
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

/** Tool call ids as each provider mints them (all valid as Anthropic tool_use ids); Gemini's calls have none. */
const IDS: Record<Protocol, [string, string]> = {
  chat: ['call_Wq8sLkq2', 'call_Bn4vXc0p'],
  responses: ['call_R3sp0ns1', 'call_R3sp0ns2'],
  anthropic: ['toolu_01A09q90qw90', 'toolu_01B7x8y9z0ab'],
  gemini: ['', ''],
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
          expectAnswer(client, provider, outcome, answer)
          // chat, Responses and Gemini count cached tokens inside the input; Anthropic apart (added back by the
          // reader). Thought tokens are output tokens (Gemini counts them apart from its candidates; read back).
          expect(outcome.usage).toEqual(expectedUsage(client, provider))

          const seen = c.seen(provider)
          expect(seen.model).toBe(UPSTREAM_MODEL[provider])
          expect(seen.turns).toEqual(conv.turns)
          // Gemini: the model and whether to stream are in the URL; the key goes in x-goog-api-key.
          const { body } = c.upstream(provider, provider === 'gemini' ? stream : undefined)
          // Same protocol on both sides: the body passes unchanged but for the model name (Gemini's body has none).
          if (client === provider) expect(body).toEqual(provider === 'gemini' ? c.sent.at(-1) : { ...c.sent.at(-1), model: UPSTREAM_MODEL[provider] })
          // A chat stream reports usage only when asked to.
          if (provider === 'chat' && body.stream) expect(body.stream_options?.include_usage).toBe(true)
          if (provider === 'anthropic') expect(body.max_tokens).toBeGreaterThan(0)
        })

        test('reasoning arrives as the client protocol\'s reasoning', async () => {
          const conv: Conversation = { turns: ask('Is 17 prime?'), reasoning: true }
          const answer: Answer = { reasoning: ['Check divisors ', 'up to 4.'], text: ['Yes, 17 is prime.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expectAnswer(client, provider, outcome, answer)
          const seen = c.seen(provider)
          // Asked for: Anthropic thinks only when told to; OpenAI-side effort and Gemini's thinkingLevel map to
          // effort (or to Gemini 3's thinkingLevel); toward Gemini, Anthropic's budget to a budget or a level.
          if (provider === 'anthropic') expect(['enabled', 'adaptive']).toContain(seen.reasoning as string)
          else if (client !== 'anthropic') expect(seen.reasoning).toBe('medium')
          else if (provider === 'gemini') expect(seen.reasoning).toBeString()
          // Gemini sends thoughts only when asked to include them.
          if (provider === 'gemini') expect(c.upstream(provider).body.generationConfig?.thinkingConfig?.includeThoughts).toBe(true)
        })

        if (client === 'gemini') {
          test('thoughts reach a Gemini client only when it asks (includeThoughts); their tokens are counted anyway', async () => {
            const conv: Conversation = { turns: ask('Is 17 prime?') }
            // A provider may think unasked (DeepSeek-style reasoning_content); the Gemini mock thinks without showing it.
            const answer: Answer = { reasoning: ['Check divisors ', 'up to 4.'], text: ['Yes, 17 is prime.'], stop: 'stop', usage: USAGE }
            c.answer(answer)
            const { outcome, final, events } = await run(c, client, provider, conv, stream)
            expectAnswer(client, provider, outcome, { ...answer, reasoning: undefined })
            const parts = stream ? events.flatMap((ch) => ch.candidates?.[0]?.content?.parts ?? []) : final.candidates[0].content.parts
            expect(parts.filter((p: any) => p.thought)).toEqual([])
            expect(outcome.usage).toEqual(expectedUsage(client, provider))
            if (provider === 'gemini') expect(c.upstream(provider).body.generationConfig?.thinkingConfig?.includeThoughts).toBeUndefined()
          })
        }

        test('a function tool declared and called: id, name and arguments as valid JSON', async () => {
          const conv: Conversation = { turns: ask('What is the weather in Paris?'), tools: true }
          const answer: Answer = { calls: [{ id: IDS[provider][0], name: 'get_weather', args: { city: 'Paris' } }], stop: 'tool', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expectAnswer(client, provider, outcome, answer)
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
          expectAnswer(client, provider, outcome, answer)
        })

        test('max tokens reached: incomplete / length / max_tokens', async () => {
          const conv: Conversation = { turns: ask('Describe the weather in Paris.'), maxTokens: 16 }
          const answer: Answer = { text: ['The weather in Paris is'], stop: 'length', usage: USAGE }
          c.answer(answer)
          const { outcome, final } = await run(c, client, provider, conv, stream)
          expectAnswer(client, provider, outcome, answer)
          if (client === 'responses') expect([final.status, final.incomplete_details]).toEqual(['incomplete', { reason: 'max_output_tokens' }])
          expect(c.seen(provider).maxTokens).toBe(16)
        })

        test('structured output: the JSON schema reaches the upstream in its shape', async () => {
          const conv: Conversation = { turns: ask('The weather in Paris, as JSON.'), schema: true }
          const answer: Answer = { text: ['{"city":"Par', 'is","celsius":21}'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, conv, stream)
          expectAnswer(client, provider, outcome, answer)
          expect(JSON.parse(outcome.text)).toEqual({ city: 'Paris', celsius: 21 })
          const { schema } = c.seen(provider)
          expect(schema?.schema).toEqual(WEATHER_SCHEMA)
          // chat's response_format and Responses' text.format both require a name (Anthropic's and Gemini's have none;
          // Gemini's schema needs responseMimeType application/json, checked by the reader).
          if (provider === 'chat' || provider === 'responses') expect(schema?.name).toBeString()
          if (provider === 'chat' || provider === 'responses') expect(schema!.name!.length).toBeGreaterThan(0)
        })
      })
    }
  }
}
