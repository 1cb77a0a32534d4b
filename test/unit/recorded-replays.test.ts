import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { anthropic } from '../../src/protocols/anthropic/index.ts'
import type { Json } from '../../src/protocols/ir.ts'
import { openaiChat } from '../../src/protocols/openai-chat/index.ts'
import { openaiResponses } from '../../src/protocols/openai-responses/index.ts'
import { unpackSignature } from '../../src/protocols/signatures.ts'
import { answerAsStream, StreamTranslation, translateResponse } from '../../src/protocols/translate.ts'
import type { ReplyOptions, WireProtocol } from '../../src/protocols/types.ts'
import {
  ANSWERS,
  readClientStream,
  readRecording,
  recordedStreams,
  saidByAnswer,
  saidByStream,
  STREAMS,
  WIRES,
  type Call,
  type Recording,
  type Said,
  type Tokens,
  type Wire,
  type WireEvent,
} from '../helpers/recorded.ts'

// Real provider traffic (test/fixtures/recorded, recorded by the Vercel AI SDK) through every
// decoder and every client protocol's encoder. What the recording says is computed from the
// recording itself; what the client got is read back from the encoder's SSE text, checked for its
// protocol's shape, and fed to the official SDK parsers.

const PROTOCOL: Record<Wire, WireProtocol> = { chat: openaiChat, responses: openaiResponses, anthropic }
const PROVIDER = 'p'

const RESPONSES_BODY = { model: 'm', input: 'hi', include: ['reasoning.encrypted_content'] }

function reply(client: Wire): ReplyOptions {
  if (client === 'responses') {
    const decoded = openaiResponses.request.decode(RESPONSES_BODY)
    return {
      model: 'm', provider: PROVIDER, responseId: 'resp_replay', state: openaiResponses.replyState(RESPONSES_BODY),
      request: { tools: decoded.tools, includeEncryptedReasoning: decoded.includeEncryptedReasoning },
    }
  }
  return { model: 'm', provider: PROVIDER, request: null, state: client === 'chat' ? { wantsUsage: true } : {}, responseId: 'resp_replay' }
}

interface Replay {
  text: string
  usage: ReturnType<StreamTranslation['usage']>
  failure: ReturnType<StreamTranslation['failure']>
}

function replay(from: Wire, client: Wire, events: WireEvent[]): Replay {
  const t = new StreamTranslation(PROTOCOL[from].stream.decoder({ provider: PROVIDER }), PROTOCOL[client].stream.encoder(reply(client)))
  let text = ''
  for (const e of events) text += t.push(e.name, e.data)
  text += t.end()
  return { text, usage: t.usage(), failure: t.failure() }
}

/** Tool ids as an Anthropic client gets them (`[a-zA-Z0-9_-]` only). */
const anthropicId = (id: string) => id.replace(/[^a-zA-Z0-9_-]/g, '_')

function callsFor(client: Wire, calls: Call[]): Call[] {
  return calls.map((c) => ({ id: client === 'anthropic' ? anthropicId(c.id) : c.id, name: c.name, args: c.args }))
}

/** A signature as its producer made it: a packed one (another protocol's) unpacked. */
const signatureValue = (s: string) => unpackSignature(s)?.value ?? s

/** The usage fields a client protocol can express. */
function tokensFor(client: Wire, u: Tokens | undefined): Partial<Tokens> | undefined {
  if (!u) return undefined
  if (client === 'anthropic') return { input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: u.cacheWrite }
  if (client === 'responses') return { input: u.input, output: u.output, cacheRead: u.cacheRead, reasoning: u.reasoning }
  return { ...u }
}

/**
 * A stop as a client protocol can say it. Responses has no stop reason: a completed response
 * ends a turn with or without function calls (the calls themselves are compared).
 */
const stopFor = (client: Wire, stop: string) => (client === 'responses' && stop === 'tool' ? 'stop' : stop)

/** What a client of `client` must get for what the recording said: nothing lost. */
function expectSame(client: Wire, from: Wire, got: Said, want: Said): void {
  const content = (s: Said, calls: Call[]) => ({ text: s.text, reasoning: s.reasoning, calls, stop: stopFor(client, s.stop) })
  expect(content(got, got.calls)).toEqual(content(want, callsFor(client, want.calls)))
  if (want.error) {
    expect(got.error?.message).toBe(want.error.message)
    expect(got.error?.type).toBe(want.error.type)
  }
  // Signatures travel to clients that can hold them, and go back as they came.
  if (client !== 'chat') expect(got.signatures.map(signatureValue)).toEqual(want.signatures)
  if (client === 'anthropic' && from === 'anthropic') expect(got.citations).toBe(want.citations)
}

const label = (rec: Recording, k: number, of: number) => (of > 1 ? `${rec.file} (response ${k + 1} of ${of})` : rec.file)

describe('the recordings themselves', () => {
  // Guards the expectations against a reading that finds nothing (and so checks nothing).
  test('every recorded response says something, and every recorded call has JSON object arguments', () => {
    const empty: string[] = []
    for (const rec of STREAMS) {
      recordedStreams(rec).forEach((events, k) => {
        const said = saidByStream(rec.wire, events)
        if (!said.text && !said.reasoning && said.calls.length === 0 && !said.error) empty.push(`${rec.file} #${k + 1}`)
        for (const c of said.calls) expect(typeof c.args === 'object' && c.args !== null).toBe(true)
      })
    }
    for (const rec of ANSWERS) {
      const said = saidByAnswer(rec.wire, JSON.parse(readRecording(rec.file)))
      if (!said.text && !said.reasoning && said.calls.length === 0) empty.push(rec.file)
    }
    expect(empty).toEqual([])
  })
})

describe('recorded streams through every client protocol', () => {
  for (const rec of STREAMS) {
    const streams = recordedStreams(rec)
    streams.forEach((events, k) => {
      const want = saidByStream(rec.wire, events)
      for (const client of WIRES) {
        test(`${label(rec, k, streams.length)}: ${rec.wire} -> ${client}`, () => {
          const out = replay(rec.wire, client, events)
          const got = readClientStream(client, out.text)
          expect(got.problems).toEqual([])
          expectSame(client, rec.wire, got, want)
          // The usage the gateway records, and the usage the client is shown.
          if (want.usage) {
            expect(out.usage).toEqual(want.usage)
            expect(tokensFor(client, got.usage)).toEqual(tokensFor(client, want.usage))
          }
          if (want.total !== undefined && client !== 'anthropic') expect(got.total).toBe(want.total)
          if (want.error) expect(out.failure).toEqual(want.error)
          else expect(out.failure).toBeUndefined()
        })
      }
    })
  }
})

describe('recorded whole answers through every client protocol', () => {
  for (const rec of ANSWERS) {
    const body = JSON.parse(readRecording(rec.file)) as Json
    const want = saidByAnswer(rec.wire, body)
    for (const client of WIRES) {
      test(`${rec.file}: ${rec.wire} -> ${client} (JSON)`, () => {
        const out = translateResponse(PROTOCOL[rec.wire], PROTOCOL[client], body, { provider: PROVIDER }, reply(client))
        const got = saidByAnswer(client, out)
        expectSame(client, rec.wire, got, want)
        for (const c of got.calls) expect(typeof c.args === 'object' && c.args !== null && !Array.isArray(c.args)).toBe(true)
        expect(tokensFor(client, got.usage)).toEqual(tokensFor(client, want.usage))
      })
      test(`${rec.file}: ${rec.wire} -> ${client} (as a stream)`, () => {
        const text = answerAsStream(PROTOCOL[rec.wire], PROTOCOL[client], body, { provider: PROVIDER }, reply(client))
        const got = readClientStream(client, text)
        expect(got.problems).toEqual([])
        expectSame(client, rec.wire, got, want)
        expect(tokensFor(client, got.usage)).toEqual(tokensFor(client, want.usage))
      })
    }
  }
})

// The official SDKs parse what the translators wrote: served from a local server, one body a path.
let server: ReturnType<typeof Bun.serve>
const bodies = new Map<string, string>()
let served = 0

beforeAll(() => {
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      const key = new URL(req.url).pathname.split('/')[1] ?? ''
      const body = bodies.get(key)
      if (body === undefined) return new Response('not found', { status: 404 })
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
    },
  })
})
afterAll(() => server?.stop(true))

function serve(text: string): string {
  const key = `s${served++}`
  bodies.set(key, text)
  return `http://127.0.0.1:${server.port}/${key}`
}

const USER = [{ role: 'user' as const, content: 'hi' }]

/** The SDK's final object for a client stream, read back as what it says. */
async function throughSdk(client: Wire, text: string): Promise<Said> {
  const baseURL = serve(text)
  if (client === 'chat') {
    const sdk = new OpenAI({ apiKey: 'k', baseURL, maxRetries: 0 })
    const final = await sdk.chat.completions.stream({ model: 'm', messages: USER, stream_options: { include_usage: true } }).finalChatCompletion()
    const choice = final.choices[0]!
    return saidByAnswer('chat', { ...final, choices: [{ ...choice, message: { ...choice.message, reasoning_content: undefined } }] })
  }
  if (client === 'responses') {
    const sdk = new OpenAI({ apiKey: 'k', baseURL, maxRetries: 0 })
    const final = await sdk.responses.stream({ model: 'm', input: 'hi' }).finalResponse()
    return saidByAnswer('responses', final as unknown as Json)
  }
  const sdk = new Anthropic({ apiKey: 'k', baseURL, maxRetries: 0 })
  const final = await sdk.messages.stream({ model: 'm', max_tokens: 16, messages: USER }).finalMessage()
  return saidByAnswer('anthropic', final as unknown as Json)
}

describe('the official SDKs accept every translated recorded stream', () => {
  for (const rec of STREAMS) {
    const streams = recordedStreams(rec)
    streams.forEach((events, k) => {
      const want = saidByStream(rec.wire, events)
      for (const client of WIRES) {
        test(`${label(rec, k, streams.length)}: ${rec.wire} -> ${client} SDK`, async () => {
          const { text } = replay(rec.wire, client, events)
          if (want.error) {
            // The SDK raises the upstream's error, or (Responses) ends with the failed response.
            const outcome = await throughSdk(client, text).then((said) => said.error?.message, (e: Error) => e.message)
            expect(outcome).toContain(want.error.message)
            return
          }
          const got = await throughSdk(client, text)
          // The chat SDK does not keep reasoning_content; the others hold every part.
          const reasoning = client === 'chat' ? '' : want.reasoning
          const signatures = client === 'chat' ? [] : want.signatures
          expect({ text: got.text, reasoning: got.reasoning, calls: got.calls, stop: stopFor(client, got.stop), signatures: got.signatures.map(signatureValue) }).toEqual({
            text: want.text, reasoning, calls: callsFor(client, want.calls), stop: stopFor(client, want.stop), signatures,
          })
        })
      }
    })
  }
})
