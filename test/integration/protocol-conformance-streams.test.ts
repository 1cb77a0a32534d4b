/**
 * Golden conformance, part 3: errors and stream shapes. An upstream's HTTP 400 before any stream,
 * an upstream stream that breaks off or reports an error part-way, for every pair of client and
 * provider protocol; the exact Responses event sequence (types, order, sequence numbers, item ids)
 * for a text answer and for a function call from each provider protocol; the Gemini stream as a
 * Gemini client's SSE reader takes it, from each provider protocol; and `api: both` / `auto`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import { ApiError } from '@google/genai'
import OpenAI from 'openai'
import { CLIENT_KEY } from '../helpers/gateway.ts'
import {
  MODEL,
  pairName,
  requestFor,
  startConformance,
  type Conformance,
  type Conversation,
} from '../helpers/conformance-clients.ts'
import {
  BAD_REQUEST_MESSAGE,
  badRequestReply,
  brokenStreamReply,
  PARTIAL_TEXT,
  PROTOCOLS,
  STREAM_ERROR_MESSAGE,
  USAGE,
  type Answer,
  type Breakage,
  type Protocol,
} from '../helpers/conformance-wire.ts'

let c: Conformance
beforeAll(async () => {
  c = await startConformance()
})
afterAll(() => c.stop())
beforeEach(() => c.reset())

const CONV: Conversation = { turns: [{ role: 'user', text: 'Tell me about Paris.' }] }

interface Attempt {
  error?: any
  final?: any
  events: any[]
}

/** The SDK call as a client makes it, with whatever it threw; no checks of our own in between. */
async function attempt(client: Protocol, provider: Protocol, stream: boolean): Promise<Attempt> {
  const body = requestFor(client, CONV, MODEL(provider))
  const events: any[] = []
  try {
    if (client === 'gemini') {
      if (!stream) return { final: await c.genai.models.generateContent(body), events }
      for await (const chunk of await c.genai.models.generateContentStream(body)) events.push(chunk)
      return { final: events.at(-1), events }
    }
    if (client === 'chat') {
      if (!stream) return { final: await c.openai.chat.completions.create(body), events }
      const runner = c.openai.chat.completions.stream({ ...body, stream_options: { include_usage: true } })
      runner.on('chunk', (e) => events.push(e))
      return { final: await runner.finalChatCompletion(), events }
    }
    if (client === 'responses') {
      if (!stream) return { final: await c.openai.responses.create(body), events }
      const runner = c.openai.responses.stream(body)
      runner.on('event', (e) => events.push(e))
      return { final: await runner.finalResponse(), events }
    }
    if (!stream) return { final: await c.anthropic.messages.create(body), events }
    const runner = c.anthropic.messages.stream(body)
    runner.on('streamEvent', (e) => events.push(e))
    return { final: await runner.finalMessage(), events }
  } catch (error) {
    return { error, events }
  }
}

/** The text deltas a streaming client received. */
function streamedText(client: Protocol, events: any[]): string {
  if (client === 'chat') return events.map((e) => e.choices[0]?.delta?.content ?? '').join('')
  if (client === 'responses') return events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('')
  if (client === 'gemini') return events.flatMap((e) => e.candidates?.[0]?.content?.parts ?? []).filter((p: any) => typeof p.text === 'string' && !p.thought).map((p: any) => p.text).join('')
  return events.filter((e) => e.type === 'content_block_delta' && e.delta.type === 'text_delta').map((e) => e.delta.text).join('')
}

/**
 * The error object a Gemini client got: the GenAI SDK's ApiError message is the body as JSON (an
 * HTTP error), or `got status: <status>. <the chunk as JSON>` (a chunk holding only `error`).
 */
function googleError(error: any): any {
  const json = /^got status: [^.]*\. (.*)$/s.exec(error.message)?.[1] ?? error.message
  return JSON.parse(json).error
}

/** What the client was told went wrong: the SDK's error, or a failed response's error. */
function failureText(a: Attempt): string {
  if (a.error) return a.error instanceof Error ? a.error.message : JSON.stringify(a.error)
  return JSON.stringify(a.final?.error ?? null)
}

for (const client of PROTOCOLS) {
  for (const provider of PROTOCOLS) {
    describe(`errors: ${pairName(client, provider)}`, () => {
      for (const stream of [false, true]) {
        test(`upstream HTTP 400 before ${stream ? 'the stream' : 'the answer'}: the SDK throws its APIError, status 400, the provider's message`, async () => {
          c.reply = (protocol) => badRequestReply(protocol)
          const a = await attempt(client, provider, stream)
          expect(a.error).toBeInstanceOf(client === 'anthropic' ? Anthropic.APIError : client === 'gemini' ? ApiError : OpenAI.APIError)
          expect(a.error.status).toBe(400)
          expect(a.error.message).toContain(client === 'gemini' ? JSON.stringify(BAD_REQUEST_MESSAGE[provider]).slice(1, -1) : BAD_REQUEST_MESSAGE[provider])
          // In Google's shape: {error: {code, message, status}}.
          if (client === 'gemini') expect(googleError(a.error)).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: expect.stringContaining(BAD_REQUEST_MESSAGE[provider]) })
          c.upstream(provider) // one request, on the provider protocol's path: a 400 is not retried
        })
      }

      const breakages: Breakage[] = provider === 'responses' ? ['cut', 'error event', 'response.failed'] : ['cut', 'error event']
      for (const how of breakages) {
        test(`mid-stream: the upstream ${how === 'cut' ? 'stream breaks off' : `sends ${how}`}: the client gets its protocol's error, never a normal end`, async () => {
          c.reply = (protocol, body) => brokenStreamReply(protocol, body, how)
          const a = await attempt(client, provider, true)
          // The stream really ran: the upstream was asked on its path and the client saw the text before the failure.
          c.upstream(provider)
          expect(streamedText(client, a.events)).toBe(PARTIAL_TEXT)
          if (client === 'responses') {
            expect(a.events.map((e) => e.type)).not.toContain('response.completed')
            // An error event makes the SDK reject; a response.failed resolves finalResponse() as failed.
            if (!a.error) expect(a.final.status).toBe('failed')
          } else {
            expect(a.error).toBeDefined()
            if (client === 'chat') expect(a.events.flatMap((e) => e.choices.map((ch: any) => ch.finish_reason)).filter(Boolean)).toEqual([])
            if (client === 'anthropic') expect(a.events.map((e) => e.type)).not.toContain('message_stop')
            // The GenAI SDK raises a chunk holding only `error` (a stream that just ends looks complete to it).
            if (client === 'gemini') expect(a.error).toBeInstanceOf(ApiError)
            if (client === 'gemini') expect(a.events.map((e) => e.candidates?.[0]?.finishReason).filter(Boolean)).toEqual([])
            if (client === 'gemini') expect(googleError(a.error)).toMatchObject({ code: expect.any(Number), message: expect.any(String), status: expect.any(String) })
          }
          if (how !== 'cut') expect(failureText(a)).toContain(STREAM_ERROR_MESSAGE[provider])
        })
      }
    })
  }
}

/** A Responses stream read off the wire: every event's `event:` line, its data, in order. */
async function responsesWire(provider: Protocol, conv: Conversation): Promise<any[]> {
  const res = await fetch(`${c.gw.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...requestFor('responses', conv, MODEL(provider)), stream: true }),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const text = await res.text()
  const events: any[] = []
  for (const block of text.split('\n\n')) {
    // SSE comments keep a connection alive and are not events.
    const lines = block.split('\n').filter((l) => l && !l.startsWith(':'))
    if (lines.length === 0) continue
    const name = lines.find((l) => l.startsWith('event: '))?.slice(7)
    const data = JSON.parse(lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    expect(name).toBe(data.type)
    events.push(data)
  }
  expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
  return events
}

/** Event types with each run of one delta type shown once. */
const collapsed = (events: any[]) => events.map((e) => e.type).filter((t, i, all) => !(t.endsWith('.delta') && all[i - 1] === t))

const IDS: Record<Protocol, string> = { chat: 'call_Wq8sLkq2', responses: 'call_R3sp0ns1', anthropic: 'toolu_01A09q90qw90', gemini: '' }
/** The call_id a Responses client must get: the provider's, or for Gemini's id-less call one the gateway made. */
const callIdOf = (provider: Protocol) => (provider === 'gemini' ? expect.stringMatching(/^\S+$/) : IDS[provider])

describe('the exact Responses event sequence', () => {
  for (const provider of PROTOCOLS) {
    test(`a text answer from the ${provider} provider`, async () => {
      const answer: Answer = { text: ['Hello', ' world'], stop: 'stop', usage: USAGE }
      c.answer(answer)
      const events = await responsesWire(provider, CONV)
      expect(collapsed(events)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ])
      const [created, , added, partAdded] = events
      const completed = events.at(-1)
      expect(created.response).toMatchObject({ object: 'response', status: 'in_progress', output: [] })
      expect(completed.response.id).toBe(created.response.id)
      expect(added).toMatchObject({ output_index: 0, item: { type: 'message', role: 'assistant', status: 'in_progress', content: [] } })
      const itemId = added.item.id
      expect(itemId).toBeString()
      expect(partAdded).toMatchObject({ item_id: itemId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
      for (const e of events.slice(3, -1)) expect([e.item_id ?? e.item?.id, e.output_index]).toEqual([itemId, 0])
      expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('')).toBe('Hello world')
      expect(events.find((e) => e.type === 'response.output_text.done').text).toBe('Hello world')
      const done = events.find((e) => e.type === 'response.output_item.done').item
      expect(done).toMatchObject({ id: itemId, type: 'message', status: 'completed', content: [{ type: 'output_text', text: 'Hello world' }] })
      expect(completed.response).toMatchObject({ status: 'completed', output: [done] })
      expect(completed.response.usage).toMatchObject({ input_tokens: 30, input_tokens_details: { cached_tokens: 8 }, output_tokens: 12, total_tokens: 42 })
    })

    test(`a function call from the ${provider} provider`, async () => {
      const args = { city: 'Paris' }
      c.answer({ calls: [{ id: IDS[provider], name: 'get_weather', args }], stop: 'tool', usage: USAGE })
      const events = await responsesWire(provider, { ...CONV, tools: true })
      expect(collapsed(events)).toEqual([
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.completed',
      ])
      const added = events[2]
      expect(added).toMatchObject({ output_index: 0, item: { type: 'function_call', call_id: callIdOf(provider), name: 'get_weather', arguments: '' } })
      const itemId = added.item.id
      expect(itemId).toBeString()
      const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta')
      expect(deltas.every((e) => e.item_id === itemId && e.output_index === 0)).toBe(true)
      expect(JSON.parse(deltas.map((e) => e.delta).join(''))).toEqual(args)
      const argsDone = events.find((e) => e.type === 'response.function_call_arguments.done')
      expect(argsDone).toMatchObject({ item_id: itemId, output_index: 0, name: 'get_weather' })
      expect(JSON.parse(argsDone.arguments)).toEqual(args)
      const done = events.find((e) => e.type === 'response.output_item.done').item
      expect(done).toMatchObject({ id: itemId, type: 'function_call', status: 'completed', call_id: added.item.call_id, name: 'get_weather', arguments: argsDone.arguments })
      expect(events.at(-1).response).toMatchObject({ status: 'completed', output: [done] })
    })
  }
})

/**
 * A Gemini stream read off the wire, as Gemini CLI asks for it (`/v1beta`, `x-goog-api-key`):
 * with `alt=sse`, events that are one `data:` line each (the GenAI SDK's reader drops an event
 * with an `event:` line and cannot join multi-line data); without, one JSON array.
 */
async function geminiWire(provider: Protocol, conv: Conversation, sse: boolean): Promise<any[]> {
  const { model, contents, config } = requestFor('gemini', conv, MODEL(provider))
  const res = await fetch(`${c.gw.url}/v1beta/models/${model}:streamGenerateContent${sse ? '?alt=sse' : ''}`, {
    method: 'POST',
    headers: { 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ contents, ...restBody(config) }),
  })
  expect(res.status).toBe(200)
  const text = await res.text()
  if (!sse) return JSON.parse(text)
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const chunks: any[] = []
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((l) => l && !l.startsWith(':'))
    if (lines.length === 0) continue
    expect(lines.length).toBe(1)
    expect(lines[0]).toStartWith('data:')
    chunks.push(JSON.parse(lines[0]!.slice(5)))
  }
  return chunks
}

/** The REST body fields for the SDK's `config` (as the SDK writes them). */
function restBody(config: any = {}): any {
  const { systemInstruction, tools, toolConfig, ...generationConfig } = config
  return { ...(systemInstruction ? { systemInstruction } : {}), ...(tools ? { tools } : {}), ...(toolConfig ? { toolConfig } : {}), ...(Object.keys(generationConfig).length ? { generationConfig } : {}) }
}

describe('the Gemini stream on the wire', () => {
  for (const provider of PROTOCOLS) {
    for (const sse of [true, false]) {
      test(`${sse ? 'alt=sse' : 'the JSON array'}: a text answer and then a function call from the ${provider} provider`, async () => {
        c.answer({ text: ['Hello', ' world'], stop: 'stop', usage: USAGE })
        const chunks = await geminiWire(provider, CONV, sse)
        expect(chunks.length).toBeGreaterThan(0)
        for (const ch of chunks) expect(ch.candidates[0].content.role).toBe('model')
        const parts = chunks.flatMap((ch) => ch.candidates[0].content.parts)
        expect(parts.filter((p: any) => !p.thought).map((p: any) => p.text ?? '').join('')).toBe('Hello world')
        // One finish reason, on the last chunk, with the whole usage.
        expect(chunks.map((ch) => ch.candidates[0].finishReason ?? null).filter(Boolean)).toEqual(['STOP'])
        expect(chunks.at(-1).candidates[0].finishReason).toBe('STOP')
        expect(chunks.at(-1).usageMetadata).toMatchObject({ promptTokenCount: 30, cachedContentTokenCount: 8, totalTokenCount: 42 })
        expect(chunks.at(-1).usageMetadata.candidatesTokenCount + (chunks.at(-1).usageMetadata.thoughtsTokenCount ?? 0)).toBe(12)

        c.reset()
        c.answer({ calls: [{ id: IDS[provider], name: 'get_weather', args: { city: 'Paris' } }], stop: 'tool', usage: USAGE })
        const calls = await geminiWire(provider, { ...CONV, tools: true }, sse)
        const callParts = calls.flatMap((ch) => ch.candidates[0].content.parts).filter((p: any) => p.functionCall)
        // Whole, once: name and arguments as an object.
        expect(callParts.map((p: any) => [p.functionCall.name, p.functionCall.args])).toEqual([['get_weather', { city: 'Paris' }]])
        expect(calls.map((ch) => ch.candidates[0].finishReason ?? null).filter(Boolean)).toEqual(['STOP'])
        expect(calls.at(-1).candidates[0].finishReason).toBe('STOP')
      })
    }
  }
})

describe('api: both and auto', () => {
  const answer: Answer = { text: ['Hello', ' world'], stop: 'stop', usage: USAGE }

  for (const client of ['chat', 'responses'] as const) {
    test(`api: both passes a ${client} client through to {base_url}/${client === 'chat' ? 'chat/completions' : 'responses'} unchanged`, async () => {
      c.answer(answer)
      const body = requestFor(client, CONV, 'bothp/gpt-both')
      const res = client === 'chat' ? await c.openai.chat.completions.create(body) : await c.openai.responses.create(body)
      expect(client === 'chat' ? (res as any).choices[0].message.content : (res as any).output_text).toBe('Hello world')
      expect(c.mocks.both.requests.map((r) => r.path)).toEqual([client === 'chat' ? '/v1/chat/completions' : '/v1/responses'])
      expect(c.mocks.both.requests[0]!.body).toEqual({ ...c.sent.at(-1), model: 'gpt-both' })
    })
  }

  test('api: auto on a host other than api.openai.com is chat: a Responses client is translated to chat completions', async () => {
    c.answer(answer)
    const res = await c.openai.responses.create(requestFor('responses', CONV, 'autop/gpt-auto'))
    expect(res.output_text).toBe('Hello world')
    const seen = c.seen('chat')
    expect([seen.model, seen.turns]).toEqual(['gpt-auto', CONV.turns])
  })
})

test('the suite runs with the api field configured (the feature\'s config)', () => {
  // Until `providers[].api` exists the gateway ran without it, and the cross-protocol pairs fail.
  expect(c.apiField).toBe(true)
})
