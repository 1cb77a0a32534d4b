import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import Anthropic from '@anthropic-ai/sdk'
import { GoogleGenAI, Type } from '@google/genai'
import OpenAI from 'openai'
import { CLIENT_KEY, eventually, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockAnthropic, type MockAnthropic } from '../helpers/mock-anthropic.ts'
import { GEMINI_USAGE, startMockGemini, THOUGHT_SIGNATURE, type MockGemini } from '../helpers/mock-gemini.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// Gemini both ways: the GenAI SDK as a client of every provider, and Gemini as a provider of
// every client, over real sockets with the official SDKs.
let gemini: MockGemini
let chat: MockUpstream
let claude: MockAnthropic
let gw: TestGateway

beforeAll(async () => {
  gemini = startMockGemini(['gemini-test'])
  chat = startMockUpstream(['chat-model'])
  claude = startMockAnthropic(['claude-test'])
  gw = await startGateway({
    auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] },
    providers: [
      { name: 'gem', type: 'gemini', base_url: gemini.url, keys: ['AIza-upstream-1'] },
      { name: 'chat', type: 'openai', base_url: chat.baseUrl, keys: ['k'], models: ['chat-model', 'text-embedding-3-small'], api: 'chat' },
      { name: 'claude', type: 'anthropic', base_url: claude.url, keys: ['k-ant'], models: ['claude-test'] },
    ],
  })
  await eventually(async () => (await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } }).then((r) => r.json()) as any).data.some((m: any) => m.id === 'gemini-test'))
})
afterAll(async () => {
  await gw.stop()
  gemini.stop()
  chat.stop()
  claude.stop()
})

const genai = (apiVersion?: string) => new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.url, ...(apiVersion ? { apiVersion } : {}) } })
const WEATHER = { name: 'get_weather', description: 'Weather for a city', parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] } }

describe('Gemini clients (GenAI SDK)', () => {
  test('passed through to a Gemini provider, on v1beta and v1, with the key in x-goog-api-key; usage recorded', async () => {
    for (const version of ['v1beta', 'v1']) {
      const res = await genai(version).models.generateContent({ model: 'gem/gemini-test', contents: 'hi' })
      expect(res.text).toBe('Hello from Gemini')
      const seen = gemini.requests.at(-1)!
      expect(seen.path).toBe('/v1beta/models/gemini-test:generateContent')
      expect(seen.headers['x-goog-api-key']).toBe('AIza-upstream-1')
      expect(seen.body.contents).toEqual([{ role: 'user', parts: [{ text: 'hi' }] }])
    }
    await eventually(() => gw.requestLogs().some((l) => l.path.includes(':generateContent') && l.tokens?.prompt === 30))
    const log = gw.requestLogs().findLast((l) => l.path.includes(':generateContent'))
    expect(log.tokens).toEqual({ prompt: 30, completion: 11, cached: 10 })
  })

  test('a stream (alt=sse) passes through; the SDK assembles text and usage', async () => {
    const stream = await genai().models.generateContentStream({ model: 'gem/gemini-test', contents: 'hi' })
    let text = ''
    let usage: any
    for await (const chunk of stream) {
      text += chunk.text ?? ''
      if (chunk.usageMetadata) usage = chunk.usageMetadata
    }
    expect(text).toBe('Hello from Gemini')
    expect(usage).toMatchObject({ promptTokenCount: 30, totalTokenCount: 41 })
    expect(gemini.requests.at(-1)!.path).toBe('/v1beta/models/gemini-test:streamGenerateContent?alt=sse')
  })

  test('in front of a chat provider: system, text, a function call with a made id, its response back as a tool message', async () => {
    chat.handler = null
    const first = await genai().models.generateContent({
      model: 'chat/chat-model',
      contents: [{ role: 'user', parts: [{ text: 'Weather in Paris?' }] }],
      config: { systemInstruction: 'Be brief.', tools: [{ functionDeclarations: [WEATHER] }], maxOutputTokens: 100 },
    })
    const sent = chat.requests.at(-1)!
    expect(sent.path).toBe('/v1/chat/completions')
    expect(sent.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.' })
    expect(sent.body.tools[0].function).toMatchObject({ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } })
    expect(sent.body.max_tokens).toBe(100)
    expect(first.text ?? first.functionCalls).toBeDefined()
    // The conversation continues with a functionResponse matched to the call by name.
    await genai().models.generateContent({
      model: 'chat/chat-model',
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny' } } }] },
      ],
      config: { tools: [{ functionDeclarations: [WEATHER] }] },
    })
    const messages = chat.requests.at(-1)!.body.messages
    expect(messages[1]).toMatchObject({ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] })
    expect(messages[2]).toEqual({ role: 'tool', tool_call_id: messages[1].tool_calls[0].id, content: 'sunny' })
  })

  test('a stream from an Anthropic provider arrives as Gemini chunks, ending with finishReason and usage', async () => {
    const stream = await genai().models.generateContentStream({ model: 'claude/claude-test', contents: 'hi' })
    let text = ''
    let last: any
    for await (const chunk of stream) {
      text += chunk.text ?? ''
      last = chunk
    }
    expect(text).toBe('Hello from Claude')
    expect(last.candidates[0].finishReason).toBe('STOP')
    expect(last.usageMetadata.promptTokenCount).toBe(27)
    expect(claude.requests.at(-1)!.path).toBe('/v1/messages')
  })

  test('without alt=sse the stream is one JSON array, written as it grows', async () => {
    const res = await fetch(`${gw.url}/v1beta/models/claude/claude-test:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    })
    expect(res.status).toBe(200)
    const items = JSON.parse(await res.text())
    expect(Array.isArray(items)).toBe(true)
    expect(items.map((i: any) => i.candidates[0].content.parts.map((p: any) => p.text).join('')).join('')).toBe('Hello from Claude')
  })

  test('countTokens: the Gemini provider counts; elsewhere the gateway estimates; the model list is in Gemini shape', async () => {
    const counted = await genai().models.countTokens({ model: 'gem/gemini-test', contents: 'hello' })
    expect(counted.totalTokens).toBe(17)
    const estimated = await genai().models.countTokens({ model: 'chat/chat-model', contents: 'hello' })
    expect(estimated.totalTokens).toBeGreaterThan(0)
    const list = await fetch(`${gw.url}/v1beta/models`, { headers: { 'x-goog-api-key': CLIENT_KEY } }).then((r) => r.json() as any)
    expect(list.models.map((m: any) => m.name)).toContain('models/gemini-test')
  })

  test('errors are in Google shape: an unknown model, a bad key', async () => {
    const missing = await fetch(`${gw.url}/v1beta/models/nope:generateContent?key=${CLIENT_KEY}`, { method: 'POST', body: JSON.stringify({ contents: [] }) })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as any).error).toMatchObject({ code: 404, status: 'NOT_FOUND' })
    const unauthorized = await fetch(`${gw.url}/v1beta/models/gem/gemini-test:generateContent`, { method: 'POST', headers: { 'x-goog-api-key': 'wrong' }, body: JSON.stringify({ contents: [] }) })
    expect(unauthorized.status).toBe(401)
    expect(((await unauthorized.json()) as any).error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' })
  })
})

describe('embeddings between the two APIs', () => {
  test('a GenAI SDK embedContent in front of an OpenAI-compatible provider', async () => {
    const res = await genai().models.embedContent({ model: 'chat/text-embedding-3-small', contents: ['one', 'two'] })
    expect(res.embeddings?.length).toBe(2)
    expect(res.embeddings![0]!.values!.length).toBeGreaterThan(0)
    const sent = chat.requests.at(-1)!
    expect(sent.path).toBe('/v1/embeddings')
    expect(sent.body).toMatchObject({ model: 'text-embedding-3-small', input: ['one', 'two'] })
  })

  test('an OpenAI SDK embeddings call in front of a Gemini provider (base64 as the SDK asks)', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const res = await client.embeddings.create({ model: 'gem/gemini-test', input: ['a', 'b'] })
    expect(res.data.map((d) => d.embedding)).toEqual([[0, 0.5, -0.5], [1, 0.5, -0.5]])
    const sent = gemini.requests.at(-1)!
    expect(sent.path).toBe('/v1beta/models/gemini-test:batchEmbedContents')
    expect(sent.body.requests).toEqual([
      { model: 'models/gemini-test', content: { parts: [{ text: 'a' }] } },
      { model: 'models/gemini-test', content: { parts: [{ text: 'b' }] } },
    ])
  })
})


describe('Gemini as a provider', () => {
  test('a chat client gets text, reasoning and usage (thoughts are output tokens)', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const res = await client.chat.completions.create({ model: 'gem/gemini-test', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'hi' }] })
    expect(res.choices[0]!.message.content).toBe('Hello from Gemini')
    expect((res.choices[0]!.message as any).reasoning_content).toBe('Thinking.')
    expect(res.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 11, prompt_tokens_details: { cached_tokens: 10 }, completion_tokens_details: { reasoning_tokens: 4 } })
    const sent = gemini.requests.at(-1)!
    expect(sent.path).toBe('/v1beta/models/gemini-test:generateContent')
    expect(sent.body.systemInstruction).toEqual({ parts: [{ text: 'Be kind.' }] })
  })

  test('a streamed chat client gets a tool call with JSON arguments; its signature travels in the id and goes back to Gemini', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]
    const stream = client.chat.completions.stream({ model: 'gem/gemini-test', messages: [{ role: 'user', content: 'Weather?' }], tools })
    const done = await stream.finalChatCompletion()
    const call = done.choices[0]!.message.tool_calls![0]! as any
    expect(call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' })
    expect(done.choices[0]!.finish_reason).toBe('tool_calls')
    await client.chat.completions.create({
      model: 'gem/gemini-test', tools,
      messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
    })
    const contents = gemini.requests.at(-1)!.body.contents
    expect(contents[1]).toEqual({ role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: THOUGHT_SIGNATURE }] })
    expect(contents[2]).toEqual({ role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny' } } }] })
  })

  test('an Anthropic client (finalMessage) gets thinking and a tool_use; a signature from elsewhere is never sent to Gemini', async () => {
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 })
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }]
    const message = await client.messages.stream({ model: 'gem/gemini-test', max_tokens: 100, messages: [{ role: 'user', content: 'Weather?' }], tools }).finalMessage()
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'tool_use'])
    const use = message.content[1] as any
    expect(use.input).toEqual({ city: 'Paris' })
    expect(message.stop_reason).toBe('tool_use')
    expect(message.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 10, output_tokens: 11 })
    // A tool call whose id carries no Gemini signature gets the skip value on the first call, never a foreign one.
    await client.messages.create({
      model: 'gem/gemini-test', max_tokens: 100, tools,
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'x', signature: 'anthropic-signature' }, { type: 'tool_use', id: 'toolu_plain', name: 'get_weather', input: { city: 'Rome' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_plain', content: 'rain' }] },
      ],
    })
    const sent = JSON.stringify(gemini.requests.at(-1)!.body)
    expect(sent).not.toContain('anthropic-signature')
    expect(gemini.requests.at(-1)!.body.contents[1].parts).toEqual([{ functionCall: { name: 'get_weather', args: { city: 'Rome' } }, thoughtSignature: 'skip_thought_signature_validator' }])
  })

  test('a Responses client in front of Gemini', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
    const res = await client.responses.stream({ model: 'gem/gemini-test', input: 'hi', instructions: 'Short.' }).finalResponse()
    expect(res.output_text).toBe('Hello from Gemini')
    expect(res.usage).toMatchObject({ input_tokens: 30, output_tokens: 11 })
    expect(gemini.requests.at(-1)!.path).toBe('/v1beta/models/gemini-test:streamGenerateContent?alt=sse')
  })

  test('a 429 with RetryInfo cools the key for that long', async () => {
    gemini.handler = () => Response.json({ error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' }] } }, { status: 429 })
    try {
      const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 })
      const err = await client.chat.completions.create({ model: 'gem/gemini-test', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e)
      expect(err?.status).toBe(429)
      const keys = await fetch(`${gw.url}/health`).then((r) => r.json() as any)
      expect(keys.providers.find((p: any) => p.name === 'gem').keys.cooling).toBe(1)
    } finally {
      gemini.handler = null
    }
  })

  test('an invalid Gemini key is disabled with its reason', async () => {
    const g = startMockGemini(['gemini-test'])
    g.handler = () => Response.json({ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }] } }, { status: 400 })
    const gw2 = await startGateway({ auth: { keys: [{ name: 'tester', key: CLIENT_KEY }] }, providers: [{ name: 'g', type: 'gemini', base_url: g.url, keys: ['AIza-bad-key-1'], models: ['gemini-test'] }] })
    try {
      const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw2.baseURL, maxRetries: 0 })
      const err = await client.chat.completions.create({ model: 'gemini-test', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e) => e)
      expect(err?.status).toBeGreaterThanOrEqual(500)
      const health = (await fetch(`${gw2.url}/health`).then((r) => r.json())) as any
      expect(health.providers[0].keys.disabled).toBe(1)
    } finally {
      await gw2.stop()
      g.stop()
    }
  })
})
