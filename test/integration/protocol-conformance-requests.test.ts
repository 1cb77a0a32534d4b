/**
 * Golden conformance, part 2: what each provider protocol receives for each kind of request, from
 * each client protocol, streamed and not: a multi-turn history with system instructions, tool
 * results sent back in the next turn, an image. The neutral reading of the upstream body must be
 * the conversation the client sent; the shape rules each upstream enforces (a tool message right
 * after the calls, tool_result blocks first in one user message, call_id rather than the item id,
 * Gemini's alternating turns with every function response of a turn in one user content) are
 * checked on the raw body too. Then, for every pair, the next turn after a real answer with
 * parallel calls, built the way an application does from what its SDK returned (a Gemini client
 * in a GenAI SDK chat session): the calls and results must reach the upstream matched, its own
 * ids back to it, and a Gemini upstream's thoughtSignature back on the part it came on; and an
 * Anthropic upstream's thinking signature back to it through a Gemini client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import type { Chat } from '@google/genai'
import {
  geminiContent,
  geminiResult,
  MODEL,
  pairName,
  run,
  sendWith,
  startConformance,
  requestFor,
  WEATHER_TOOL,
  type ClientResult,
  type Conformance,
  type Conversation,
} from '../helpers/conformance-clients.ts'
import { callsByPlace, readSeen, type Turn } from '../helpers/conformance-seen.ts'
import { GEMINI_SIGNATURE, PROTOCOLS, SIGNATURE, USAGE, type Answer, type Protocol } from '../helpers/conformance-wire.ts'

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
          // Gemini: the system in systemInstruction, turns alternating user / model from a user turn.
          if (provider === 'gemini') expect(JSON.stringify(body.systemInstruction)).toContain('Be brief.')
          if (provider === 'gemini') expect(body.contents.map((c: any) => c.role)).toEqual(['user', 'model', 'user'])
        })

        test('tool results sent back in the next turn arrive in the upstream\'s shape, matched by call id', async () => {
          const answer: Answer = { text: ['Paris is sunny; ', 'Oslo is rainy.'], stop: 'stop', usage: USAGE }
          c.answer(answer)
          const { outcome } = await run(c, client, provider, TOOL_ROUND, stream)
          expect(outcome.text).toBe('Paris is sunny; Oslo is rainy.')
          const seen = c.seen(provider)
          // Through Gemini, calls have no ids: what must hold is which result answers which call (by name and order).
          if (client === 'gemini' || provider === 'gemini') expect(callsByPlace(seen.turns)).toEqual(callsByPlace(TOOL_ROUND.turns))
          else expect(seen.turns).toEqual(TOOL_ROUND.turns)
          expect(seen.tools).toEqual([WEATHER_TOOL])
          const body = c.upstream(provider).body
          // A Gemini client's calls have no ids: the gateway makes them, one per call.
          const ids = client === 'gemini' ? [expect.any(String), expect.any(String)] : [CALL_A.id, CALL_B.id]
          if (provider === 'chat') {
            // One assistant message with both calls, then one tool message per call right after it.
            const at = body.messages.findIndex((m: any) => m.tool_calls)
            expect(body.messages.slice(at).map((m: any) => m.role)).toEqual(['assistant', 'tool', 'tool'])
            expect(body.messages[at].tool_calls.map((t: any) => [t.type, t.id])).toEqual([['function', ids[0]], ['function', ids[1]]])
          }
          if (provider === 'anthropic') {
            // The results of both calls in ONE user message right after the assistant's tool_use blocks.
            const at = body.messages.findIndex((m: any) => Array.isArray(m.content) && m.content.some((b: any) => b.type === 'tool_use'))
            expect(body.messages.slice(at).map((m: any) => m.role)).toEqual(['assistant', 'user'])
            expect(body.messages[at + 1].content.map((b: any) => [b.type, b.tool_use_id])).toEqual([['tool_result', ids[0]], ['tool_result', ids[1]]])
            if (client === 'gemini') expect(body.messages[at].content.filter((b: any) => b.type === 'tool_use').map((b: any) => b.id)).toEqual(body.messages[at + 1].content.map((b: any) => b.tool_use_id))
          }
          if (provider === 'gemini') {
            // The model turn with its text and both calls, then ONE user content with both responses, same
            // count and order, named as the calls (Gemini matches them by name and order).
            expect(body.contents.map((c: any) => c.role)).toEqual(['user', 'model', 'user'])
            const [, model, results] = body.contents
            expect(model.parts.map((p: any) => p.text ?? p.functionCall?.args.city)).toEqual(['Checking both.', 'Paris', 'Oslo'])
            expect(results.parts.map((p: any) => [p.functionResponse?.name, p.functionResponse?.response])).toEqual([
              ['get_weather', { output: 'sunny, 21 C' }],
              ['get_weather', { output: 'rain, 9 C' }],
            ])
            // Calls that Gemini did not make have no signature of theirs: the first of the step gets the value
            // Gemini 3 accepts instead (as Gemini CLI does), the next none; a Gemini client's history goes as it is.
            const [first, ...rest] = model.parts.filter((p: any) => p.functionCall).map((p: any) => p.thoughtSignature)
            expect(first).toBe(client === 'gemini' ? undefined : 'skip_thought_signature_validator')
            for (const s of rest) expect([undefined, 'skip_thought_signature_validator']).toContain(s)
          }
          if (provider === 'responses') {
            // Items keyed by call_id (the client's fc_ item ids are not call ids).
            const items = body.input.filter((i: any) => i.type === 'function_call' || i.type === 'function_call_output')
            expect(items.map((i: any) => [i.type, i.call_id])).toEqual([
              ['function_call', ids[0]],
              ['function_call', ids[1]],
              ['function_call_output', ids[0]],
              ['function_call_output', ids[1]],
            ])
            if (client === 'gemini') expect(items[0].call_id).not.toBe(items[1].call_id)
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

// --- the next turn after a real answer: ids and signatures go back where they came from -----------

const RESULTS = ['sunny, 21 C', 'rain, 9 C']
const FOLLOW_UP: Answer = { text: ['Paris is sunny; ', 'Oslo is rainy.'], stop: 'stop', usage: USAGE }

/**
 * The client's next request as an application writes it: its first request, the answer appended
 * as its SDK gave it (the chat message, the Responses output items, the Anthropic content blocks),
 * and a result for each call, in order.
 */
function nextTurn(client: Exclude<Protocol, 'gemini'>, first: any, got: ClientResult): any {
  const calls = got.outcome.calls
  if (client === 'chat') {
    const results = calls.map((call, i) => ({ role: 'tool', tool_call_id: call.id, content: RESULTS[i] }))
    return { ...first, messages: [...first.messages, got.final.choices[0].message, ...results] }
  }
  if (client === 'responses') {
    const results = calls.map((call, i) => ({ type: 'function_call_output', call_id: call.id, output: RESULTS[i] }))
    return { ...first, input: [...first.input, ...got.final.output, ...results] }
  }
  const results = calls.map((call, i) => ({ type: 'tool_result', tool_use_id: call.id, content: RESULTS[i] }))
  return { ...first, messages: [...first.messages, { role: 'assistant', content: got.final.content }, { role: 'user', content: results }] }
}

/** One turn of a GenAI SDK chat session (`chats.create`), which keeps the history itself: a streamed answer as one model content per chunk. */
async function chatTurn(chat: Chat, message: any[], stream: boolean): Promise<ClientResult> {
  if (!stream) return geminiResult(await chat.sendMessage({ message }), [], false)
  const events: any[] = []
  for await (const chunk of await chat.sendMessageStream({ message })) events.push(chunk)
  return geminiResult(events.at(-1), events, true)
}

/**
 * Runs the first turn, then the next one built from it (a Gemini client in a GenAI SDK chat
 * session, answering each functionCall with a functionResponse of its name, as Google's examples
 * do, or, with `echoIds`, also of the call's id when it had one, as Gemini CLI does); returns the
 * upstream's second request and what the client got first.
 */
async function twoTurns(client: Protocol, provider: Protocol, conv: Conversation, answer: Answer, stream: boolean, echoIds = true) {
  c.answer(answer)
  const first = requestFor(client, conv, MODEL(provider))
  const chat = client === 'gemini' ? c.genai.chats.create({ model: first.model, config: first.config }) : null
  const got = chat ? await chatTurn(chat, first.contents[0].parts, stream) : await sendWith(c, client, first, stream)
  expect(got.outcome.calls.map((call) => call.args)).toEqual(answer.calls!.map((call) => call.args))
  c.upstream(provider)
  c.reset()
  c.answer(FOLLOW_UP)
  const results = got.outcome.calls.map((call, i) => ({ functionResponse: { ...(call.id && echoIds ? { id: call.id } : {}), name: call.name, response: { output: RESULTS[i] } } }))
  const { outcome } = chat ? await chatTurn(chat, results, stream) : await sendWith(c, client, nextTurn(client as Exclude<Protocol, 'gemini'>, first, got), stream)
  expect(outcome.text).toBe('Paris is sunny; Oslo is rainy.')
  return { after: c.upstream(provider), got }
}

const ASK_BOTH: Conversation = { tools: true, turns: [{ role: 'user', text: 'Weather in Paris and Oslo?' }] }
const CALL_IDS: Record<Protocol, [string, string]> = {
  chat: ['call_Wq8sLkq2', 'call_Bn4vXc0p'],
  responses: ['call_R3sp0ns1', 'call_R3sp0ns2'],
  anthropic: ['toolu_01A09q90qw90', 'toolu_01B7x8y9z0ab'],
  gemini: ['', ''],
}
const parallel = (provider: Protocol): Answer => ({
  text: ['Checking ', 'both.'],
  calls: [
    { id: CALL_IDS[provider][0], name: 'get_weather', args: { city: 'Paris' } },
    { id: CALL_IDS[provider][1], name: 'get_weather', args: { city: 'Oslo' } },
  ],
  stop: 'tool',
  usage: USAGE,
})

for (const client of PROTOCOLS) {
  for (const provider of PROTOCOLS) {
    for (const stream of [false, true]) {
      describe(`the next turn: ${pairName(client, provider)}, ${stream ? 'streamed' : 'not streamed'}`, () => {
        for (const echoIds of client === 'gemini' ? [false, true] : [true]) {
        const how = client === 'gemini' ? (echoIds ? ', the responses echoing the call ids' : ', the responses by name only') : ''
        test(`after parallel calls${how}: the calls and their results reach the upstream matched (by id; through Gemini by name and order)`, async () => {
          const { after } = await twoTurns(client, provider, ASK_BOTH, parallel(provider), stream, echoIds)
          const [a, b] = provider === 'gemini' ? ['call 1', 'call 2'] : CALL_IDS[provider]
          const turns: Turn[] = [
            { role: 'user', text: 'Weather in Paris and Oslo?' },
            { role: 'assistant', text: 'Checking both.', calls: [{ id: a!, name: 'get_weather', args: { city: 'Paris' } }, { id: b!, name: 'get_weather', args: { city: 'Oslo' } }] },
            { role: 'tool', callId: a!, output: RESULTS[0]! },
            { role: 'tool', callId: b!, output: RESULTS[1]! },
          ]
          const seen = readSeen(provider, after.body, after.path).turns
          // The provider's own ids come back to it (a Gemini client may echo them in functionResponse.id, or not).
          if (provider === 'gemini' || client === 'gemini') expect(callsByPlace(seen)).toEqual(callsByPlace(turns))
          else expect(seen).toEqual(turns)
          // The gateway writes one assistant turn with both calls, then the results (chat: right after it).
          if (provider === 'chat') expect(after.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool'])
          if (provider === 'anthropic') expect(after.body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user'])
          // What the gateway packed for the client (into ids or signatures) is unpacked, never sent on.
          expect(JSON.stringify(after.body)).not.toContain('sluice.v1.')
          expect(JSON.stringify(after.body)).not.toContain('__sig')
          if (provider !== 'gemini') return

          // Gemini: one model turn, the signature Gemini put on its first call back on that part byte for byte,
          // none on the second (Gemini signs only the first of parallel calls); all responses in ONE user content.
          // (A GenAI SDK chat session sends a streamed answer back as one model content per chunk.)
          const roles = after.body.contents.map((content: any) => content.role)
          if (client === 'gemini') expect(roles.filter((r: string, i: number) => r !== roles[i - 1])).toEqual(['user', 'model', 'user'])
          else expect(roles).toEqual(['user', 'model', 'user'])
          const parts = after.body.contents.filter((content: any) => content.role === 'model').flatMap((content: any) => content.parts)
          expect(parts.filter((p: any) => p.functionCall).map((p: any) => [p.functionCall.name, p.functionCall.args, p.thoughtSignature])).toEqual([
            ['get_weather', { city: 'Paris' }, GEMINI_SIGNATURE],
            ['get_weather', { city: 'Oslo' }, undefined],
          ])
          expect(parts.filter((p: any) => typeof p.text === 'string' && !p.thought).map((p: any) => p.text).join('')).toBe('Checking both.')
          expect(after.body.contents.at(-1).parts.map((p: any) => [p.functionResponse?.name, p.functionResponse?.response])).toEqual([
            ['get_weather', { output: RESULTS[0] }],
            ['get_weather', { output: RESULTS[1] }],
          ])
        })
        }
      })
    }
  }
}

for (const stream of [false, true]) {
  test(`the next turn: an Anthropic thinking signature goes back to Anthropic through a Gemini client (GenAI SDK chat session), ${stream ? 'streamed' : 'not streamed'}`, async () => {
    const answer: Answer = { reasoning: ['Look it ', 'up.'], calls: [{ id: 'toolu_01A09q90qw90', name: 'get_weather', args: { city: 'Paris' } }], stop: 'tool', usage: USAGE }
    const { got, after } = await twoTurns('gemini', 'anthropic', { ...ASK_BOTH, reasoning: true }, answer, stream)
    // The Gemini client got the thought (it asked for thoughts) with a signature on it.
    const thought = geminiContent(got, stream).parts.filter((p: any) => p.thought)
    expect(thought.map((p: any) => p.text).join('')).toBe('Look it up.')
    expect(thought.some((p: any) => typeof p.thoughtSignature === 'string' && p.thoughtSignature.length > 0)).toBe(true)
    const messages = after.body.messages
    expect(messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user'])
    // Anthropic wants the thinking block unchanged, its signature intact, before the tool_use it led to; the result by id.
    expect(messages[1].content).toEqual([
      { type: 'thinking', thinking: 'Look it up.', signature: SIGNATURE },
      { type: 'tool_use', id: 'toolu_01A09q90qw90', name: 'get_weather', input: { city: 'Paris' } },
    ])
    expect(messages[2].content.map((b: any) => [b.type, b.tool_use_id, JSON.stringify(b.content)])).toEqual([['tool_result', 'toolu_01A09q90qw90', expect.stringContaining(RESULTS[0]!)]])
    expect(after.body.thinking?.type).toBe('enabled')
  })
}
