import { describe, expect, test } from 'bun:test'
import { messageToSse } from '../../src/protocols/anthropic/replay.ts'
import { anthropic } from '../../src/protocols/anthropic/index.ts'
import { anthropicUsage, anthropicUsageJson } from '../../src/protocols/anthropic/usage.ts'
import { TranslationError, type Json } from '../../src/protocols/ir.ts'
import { sanitizeToolId } from '../../src/protocols/media.ts'
import { openaiChat } from '../../src/protocols/openai-chat/index.ts'
import { chatUsage, chatUsageJson } from '../../src/protocols/openai-chat/usage.ts'
import { StreamTranslation, translateResponse } from '../../src/protocols/translate.ts'
import type { ReplyOptions, WireProtocol } from '../../src/protocols/types.ts'

// The two directions between chat and Messages, as the hub composes them (decode once, encode once).
const reply = (model: string, wantsUsage = false): ReplyOptions => ({ model, provider: 'p', request: null, state: { wantsUsage }, responseId: 'resp_1' })
function requestVia(from: WireProtocol, to: WireProtocol, body: Json, defaultMaxTokens = 4096) {
  const decoded = from.request.decode(body)
  const request = to.request.encode(decoded, { model: body.model, provider: 'p', stream: body.stream === true, defaultMaxTokens })
  return { request, dropped: decoded.dropped }
}
const toAnthropicRequest = (body: Json, options: { defaultMaxTokens: number }) => requestVia(openaiChat, anthropic, body, options.defaultMaxTokens)
const toOpenAIRequest = (body: Json) => requestVia(anthropic, openaiChat, body)
const toAnthropicResponse = (completion: Json) => translateResponse(openaiChat, anthropic, completion, { provider: 'p' }, reply(completion.model ?? 'm'))
const toOpenAIResponse = (message: Json) => translateResponse(anthropic, openaiChat, message, { provider: 'p' }, reply(message.model ?? 'm'))
const anthropicUsageToOpenAI = (u: Json) => chatUsageJson(anthropicUsage(u))
const openaiUsageToAnthropic = (u: Json) => anthropicUsageJson(chatUsage(u))
class OpenAIToAnthropicStream extends StreamTranslation {
  constructor(model: string) {
    super(openaiChat.stream.decoder({ provider: 'p' }), anthropic.stream.encoder(reply(model)))
  }
}
class AnthropicToOpenAIStream extends StreamTranslation {
  constructor(includeUsage: boolean) {
    super(anthropic.stream.decoder({ provider: 'p' }), openaiChat.stream.encoder(reply('', includeUsage)))
  }
}

const toAnthropic = (body: object) => toAnthropicRequest(body as any, { defaultMaxTokens: 1024 })

/** Parses translated Anthropic SSE text into [event name, data] pairs. */
function anthropicEvents(text: string): Array<[string, any]> {
  return text.split('\n\n').filter(Boolean).map((e) => {
    const [name, data] = e.split('\n')
    expect(name).toStartWith('event: ')
    const parsed = JSON.parse(data!.slice(6))
    expect(parsed.type).toBe(name!.slice(7))
    return [name!.slice(7), parsed]
  })
}

function openaiChunks(text: string): any[] {
  return text.split('\n\n').filter(Boolean).map((e) => e.slice(6)).map((d) => (d === '[DONE]' ? d : JSON.parse(d)))
}
describe('OpenAI request -> Anthropic request', () => {
  test('system and developer messages become the system field, in order; max_tokens gets a default', () => {
    const { request } = toAnthropic({
      model: 'claude-x',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
        { role: 'user', content: 'hi' },
      ],
    })
    expect(request.system).toEqual([{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use metric units.' }])
    expect(request.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }])
    expect(request.max_tokens).toBe(1024)
  })

  test('empty text is dropped instead of becoming an empty block', () => {
    const { request } = toAnthropic({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: '' }, { type: 'text', text: 'real' }] }, { role: 'assistant', content: '' }] })
    expect(request.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'real' }] }])
  })

  test('images: base64 data URLs and http URLs; an unsupported type is a TranslationError', () => {
    const { request } = toAnthropic({
      model: 'm',
      messages: [{ role: 'user', content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } },
        { type: 'image_url', image_url: { url: 'https://example.test/cat.jpg' } },
      ] }],
    })
    expect(request.messages[0].content).toEqual([
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } },
      { type: 'image', source: { type: 'url', url: 'https://example.test/cat.jpg' } },
    ])
    expect(() => toAnthropic({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/tiff;base64,AA' } }] }] })).toThrow(TranslationError)
  })

  test('tool calls, foreign ids sanitised on both sides, parallel results in one user message with results first', () => {
    const { request } = toAnthropic({
      model: 'm',
      messages: [
        { role: 'user', content: 'two cities' },
        { role: 'assistant', content: null, tool_calls: [
          { id: 'functions.get:0', type: 'function', function: { name: 'get', arguments: '{"c":"A"}' } },
          { id: 'call_b', type: 'function', function: { name: 'get', arguments: '{"c":"B"}' } },
        ] },
        { role: 'tool', tool_call_id: 'functions.get:0', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_b', content: [{ type: 'text', text: 'rain' }] },
        { role: 'user', content: 'thanks' },
      ],
    })
    expect(request.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'two cities' }] },
      { role: 'assistant', content: [
        { type: 'tool_use', id: 'functions_get_0', name: 'get', input: { c: 'A' } },
        { type: 'tool_use', id: 'call_b', name: 'get', input: { c: 'B' } },
      ] },
      { role: 'user', content: [
        { type: 'tool_result', tool_use_id: 'functions_get_0', content: 'sunny' },
        { type: 'tool_result', tool_use_id: 'call_b', content: 'rain' },
        { type: 'text', text: 'thanks' },
      ] },
    ])
  })

  test('invalid tool-call arguments become {} and are reported, not a crash', () => {
    const { request, dropped } = toAnthropic({ model: 'm', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"trunc' } }] }] })
    expect(request.messages[0].content[0].input).toEqual({})
    expect(dropped.join()).toContain('arguments')
  })

  test('tools, tool_choice, parallel_tool_calls, stop, user, temperature and top_p', () => {
    const { request, dropped } = toAnthropic({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object', properties: { a: { type: 'number' } } }, strict: true } }, { type: 'function', function: { name: 'g' } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      stop: 'END',
      user: 'u-1',
      temperature: 1.5,
      top_p: 0.9,
      logprobs: true,
      max_completion_tokens: 77,
    })
    expect(request.tools).toEqual([
      { name: 'f', description: 'does f', input_schema: { type: 'object', properties: { a: { type: 'number' } } }, strict: true },
      { name: 'g', input_schema: { type: 'object', properties: {} } },
    ])
    expect(request.tool_choice).toEqual({ type: 'tool', name: 'f', disable_parallel_tool_use: true })
    expect(request.stop_sequences).toEqual(['END'])
    expect(request.metadata).toEqual({ user_id: 'u-1' })
    expect(request.temperature).toBe(1)
    expect(request.top_p).toBeUndefined()
    expect(request.max_tokens).toBe(77)
    expect(dropped).toEqual(expect.arrayContaining(['logprobs', 'top_p (with temperature)']))
    for (const [choice, expected] of [['auto', { type: 'auto' }], ['required', { type: 'any' }], ['none', { type: 'none' }]] as const) {
      expect(toAnthropic({ model: 'm', messages: [], tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: choice }).request.tool_choice).toEqual(expected)
    }
  })

  test('reasoning_effort: adaptive thinking on new models, a budget on older ones; sampling removed', () => {
    const recent = toAnthropic({ model: 'claude-opus-4-7', messages: [], reasoning_effort: 'high', temperature: 0.2 }).request
    expect(recent.thinking).toEqual({ type: 'adaptive' })
    expect(recent.output_config).toEqual({ effort: 'high' })
    expect(recent.temperature).toBeUndefined()
    const older = toAnthropic({ model: 'claude-3-7-sonnet', messages: [], reasoning_effort: 'medium', max_tokens: 20000 }).request
    expect(older.thinking).toEqual({ type: 'enabled', budget_tokens: 8192 })
  })

  test('n > 1 cannot be served', () => {
    expect(() => toAnthropic({ model: 'm', messages: [], n: 2 })).toThrow('n > 1')
  })
})

describe('Anthropic request -> OpenAI request', () => {
  test('system blocks, images, documents, tool use and results, tool_choice, stream asks for usage', () => {
    const { request, dropped } = toOpenAIRequest({
      model: 'm',
      max_tokens: 50,
      system: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }],
      stream: true,
      stop_sequences: ['X'],
      top_k: 5,
      metadata: { user_id: 'u' },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAA' } }, { type: 'image', source: { type: 'url', url: 'https://x.test/i.png' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, { type: 'text', text: 'calling' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'done', is_error: true }] },
      ],
      tools: [{ name: 'f', input_schema: { type: 'object' } }, { type: 'web_search_20250305', name: 'web_search' }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    })
    expect(request.messages).toEqual([
      { role: 'system', content: 'A\n\nB' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA' } }, { type: 'image_url', image_url: { url: 'https://x.test/i.png' } }] },
      { role: 'assistant', content: 'calling', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: done' },
    ])
    expect(request.stream_options).toEqual({ include_usage: true })
    expect(request.stop).toEqual(['X'])
    expect(request.user).toBe('u')
    expect(request.tools).toEqual([{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }])
    expect(request.tool_choice).toBe('required')
    expect(request.parallel_tool_calls).toBe(false)
    expect(dropped).toEqual(expect.arrayContaining(['top_k', 'tools[] of type web_search_20250305', 'messages[].reasoning (no equivalent to replay it)']))
  })
})

test('Anthropic request -> OpenAI: system turns inside messages stay in place; per-turn fields are dropped, not refused', () => {
  const { request, dropped } = toOpenAIRequest({
    model: 'm',
    max_tokens: 10,
    system: 'Top.',
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'system', content: [{ type: 'text', text: 'Now be brief.' }], output_config: { effort: 'low' } },
      { role: 'user', content: 'Go' },
    ],
  })
  expect(request.messages).toEqual([
    { role: 'system', content: 'Top.' },
    { role: 'user', content: 'Hi' },
    { role: 'system', content: 'Now be brief.' },
    { role: 'user', content: 'Go' },
  ])
  expect(dropped).toContain('messages[].output_config')
})

describe('responses', () => {
  test('Anthropic message -> chat completion, stop reasons and usage (cache added to prompt tokens)', () => {
    const out = toOpenAIResponse({
      id: 'msg_1', model: 'claude', stop_reason: 'max_tokens',
      content: [{ type: 'thinking', thinking: 'why' }, { type: 'text', text: 'Hi' }, { type: 'tool_use', id: 'toolu_1', name: 'f', input: { x: 1 } }],
      usage: { input_tokens: 10, cache_read_input_tokens: 4, cache_creation_input_tokens: 6, output_tokens: 3 },
    })
    expect(out.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: 'Hi', refusal: null, reasoning_content: 'why', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
      finish_reason: 'length',
      logprobs: null,
    })
    expect(out.usage).toEqual({ prompt_tokens: 20, completion_tokens: 3, total_tokens: 23, prompt_tokens_details: { cached_tokens: 4, cache_write_tokens: 6 }, completion_tokens_details: { reasoning_tokens: 0 } })
  })

  test('chat completion -> Anthropic message: input tokens exclude the cached ones', () => {
    const out = toAnthropicResponse({
      id: 'chatcmpl-7', model: 'ds',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Yo', reasoning_content: 'think' } }],
      usage: { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 60 } },
    })
    expect(out).toMatchObject({ id: 'msg_7', type: 'message', stop_reason: 'end_turn', content: [{ type: 'thinking', thinking: 'think', signature: '' }, { type: 'text', text: 'Yo' }] })
    expect(out.usage).toEqual({ input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 60, output_tokens: 5 })
  })

  test('usage maps are inverse for the cached part', () => {
    const anthropic = { input_tokens: 7, cache_read_input_tokens: 3, cache_creation_input_tokens: 2, output_tokens: 4 }
    expect(openaiUsageToAnthropic(anthropicUsageToOpenAI(anthropic))).toEqual(anthropic)
  })

  test('a message replayed as events keeps block fields: caller on tool_use, citations on text', () => {
    const citation = { type: 'char_location', cited_text: 'x', document_index: 0, start_char_index: 0, end_char_index: 1 }
    const events = anthropicEvents(
      messageToSse({
        id: 'msg_1', type: 'message', role: 'assistant', model: 'c', stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 2 },
        content: [{ type: 'text', text: 'See x.', citations: [citation] }, { type: 'tool_use', id: 'toolu_1', name: 'run', input: { a: 1 }, caller: { type: 'code_execution_20250825', tool_id: 'srvtoolu_1' } }],
      }),
    )
    const starts = events.filter(([n]) => n === 'content_block_start').map(([, d]) => d.content_block)
    expect(starts[0]).toEqual({ type: 'text', text: '', citations: [] })
    expect(starts[1]).toEqual({ type: 'tool_use', id: 'toolu_1', name: 'run', input: {}, caller: { type: 'code_execution_20250825', tool_id: 'srvtoolu_1' } })
    expect(events.some(([n, d]) => n === 'content_block_delta' && d.delta.type === 'citations_delta' && d.delta.citation.cited_text === 'x')).toBe(true)
  })

  test('a message replayed as events folds back the same way', () => {
    const events = anthropicEvents(messageToSse({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'a' }, { type: 'tool_use', id: 't', name: 'f', input: { k: 1 } }], stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 } }))
    expect(events.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
  })
})

describe('Anthropic stream -> OpenAI chunks', () => {
  const push = (t: AnthropicToOpenAIStream, type: string, data: object) => t.push(type, JSON.stringify({ type, ...data }))

  test('a tool call after text and thinking blocks is tool index 0; usage comes last when asked', () => {
    const t = new AnthropicToOpenAIStream(true)
    let out = push(t, 'message_start', { message: { id: 'msg_1', model: 'c', usage: { input_tokens: 5, cache_read_input_tokens: 1, output_tokens: 1 } } })
    out += push(t, 'content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } })
    out += push(t, 'content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hm' } })
    out += push(t, 'content_block_start', { index: 1, content_block: { type: 'text', text: '' } })
    out += push(t, 'content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hi' } })
    out += push(t, 'content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_9', name: 'f', input: {} } })
    out += push(t, 'content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"a":' } })
    out += push(t, 'content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '1}' } })
    out += push(t, 'message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } })
    out += push(t, 'message_stop', {})
    const chunks = openaiChunks(out)
    expect(chunks.at(-1)).toBe('[DONE]')
    const deltas = chunks.slice(0, -2).map((c) => c.choices[0])
    expect(deltas.map((d) => d.delta)).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'hm' },
      { content: 'Hi' },
      { tool_calls: [{ index: 0, id: 'toolu_9', type: 'function', function: { name: 'f', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '1}' } }] },
      {},
    ])
    expect(deltas.at(-1).finish_reason).toBe('tool_calls')
    expect(chunks.at(-2)).toMatchObject({ choices: [], usage: { prompt_tokens: 6, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 1 } } })
  })

  const argumentsOf = (out: string) =>
    openaiChunks(out)
      .filter((c) => c !== '[DONE]' && c.choices?.[0]?.delta?.tool_calls)
      .map((c) => c.choices[0].delta.tool_calls[0].function.arguments)
      .join('')

  test('a tool call whose input comes whole in content_block_start, or empty, still has JSON arguments', () => {
    const whole = new AnthropicToOpenAIStream(false)
    let out = push(whole, 'message_start', { message: { id: 'm', usage: {} } })
    out += push(whole, 'content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: { path: 'a.txt' } } })
    out += push(whole, 'content_block_stop', { index: 0 })
    expect(JSON.parse(argumentsOf(out))).toEqual({ path: 'a.txt' })
    const empty = new AnthropicToOpenAIStream(false)
    let none = push(empty, 'message_start', { message: { id: 'm', usage: {} } })
    none += push(empty, 'content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} } })
    none += push(empty, 'content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '' } })
    none += push(empty, 'content_block_stop', { index: 0 })
    expect(JSON.parse(argumentsOf(none))).toEqual({})
    // Streamed input is not followed by an extra `{}`.
    const streamed = new AnthropicToOpenAIStream(false)
    let parts = push(streamed, 'content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_3', name: 'f', input: {} } })
    parts += push(streamed, 'content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"a":1}' } })
    parts += push(streamed, 'content_block_stop', { index: 0 })
    expect(argumentsOf(parts)).toBe('{"a":1}')
  })

  test('a message delivered whole inside message_start is replayed, with its finish reason', () => {
    const t = new AnthropicToOpenAIStream(false)
    const content = [{ type: 'text', text: 'Running it.' }, { type: 'tool_use', id: 'toolu_4', name: 'run', input: { code: '1+1' }, caller: { type: 'direct' } }]
    let out = push(t, 'message_start', { message: { id: 'msg_5', model: 'c', content, stop_reason: 'tool_use', usage: { input_tokens: 3, output_tokens: 9 } } })
    out += push(t, 'message_stop', {})
    const chunks = openaiChunks(out).filter((c) => c !== '[DONE]')
    expect(chunks.map((c) => c.choices[0].delta.content).filter(Boolean)).toEqual(['Running it.'])
    expect(JSON.parse(argumentsOf(out))).toEqual({ code: '1+1' })
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls')
  })

  test('without include_usage there is no usage chunk; a stream cut short is an error, not a stop', () => {
    const t = new AnthropicToOpenAIStream(false)
    const out = push(t, 'message_start', { message: { id: 'm', usage: {} } }) + t.end()
    const chunks = openaiChunks(out)
    expect(chunks.some((c) => c !== '[DONE]' && c.usage)).toBe(false)
    expect(chunks.at(-1).error.message).toContain('ended before')
    expect(t.failure()).toBeDefined()
  })
})

describe('OpenAI stream -> Anthropic events', () => {
  const chunk = (delta: object, finish: string | null = null) => JSON.stringify({ id: 'chatcmpl-1', model: 'ds', choices: [{ index: 0, delta, finish_reason: finish }] })

  test('the last argument fragment in the finish chunk is kept; arguments before the name are buffered', () => {
    const t = new OpenAIToAnthropicStream('ds')
    let out = t.push(null, chunk({ role: 'assistant', content: 'Sure.' }))
    out += t.push(null, chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { arguments: '{"q"' } }] }))
    out += t.push(null, chunk({ tool_calls: [{ index: 0, function: { name: 'search' } }] }))
    out += t.push(null, chunk({ tool_calls: [{ index: 0, function: { arguments: ':"x"}' } }] }, 'tool_calls'))
    out += t.push(null, JSON.stringify({ id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 2 } } }))
    out += t.push(null, '[DONE]')
    const events = anthropicEvents(out)
    expect(events.map(([n]) => n)).toEqual([
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ])
    expect(events[4]![1]).toMatchObject({ index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'search', input: {} } })
    const args = events.filter(([n, d]) => n === 'content_block_delta' && d.delta.type === 'input_json_delta').map(([, d]) => d.delta.partial_json).join('')
    expect(JSON.parse(args)).toEqual({ q: 'x' })
    expect(events[8]![1]).toEqual({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 2, output_tokens: 4 } })
  })

  test('every delta carries its block index; a repeated id does not open a second block', () => {
    const t = new OpenAIToAnthropicStream('ds')
    let out = t.push(null, chunk({ tool_calls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '' } }] }))
    out += t.push(null, chunk({ tool_calls: [{ index: 0, id: 'c1', function: { arguments: '{}' } }] }, 'tool_calls'))
    out += t.push(null, '[DONE]')
    const events = anthropicEvents(out)
    expect(events.filter(([n]) => n === 'content_block_start')).toHaveLength(1)
    for (const [n, d] of events) if (n.startsWith('content_block')) expect(typeof d.index).toBe('number')
  })

  test('the reasoning and text of every dialect arrive: Groq reasoning, Mistral parts, refusals; an empty model is filled in', () => {
    const deltas = (out: string) => anthropicEvents(out).filter(([n]) => n === 'content_block_delta').map(([, d]) => d.delta)
    const t = new OpenAIToAnthropicStream('mistral-medium')
    // Azure's first chunk: prompt filter results, no choices, an empty model.
    let out = t.push(null, JSON.stringify({ id: '', model: '', choices: [], prompt_filter_results: [] }))
    out += t.push(null, chunk({ reasoning: 'Groq thinks. ' }))
    out += t.push(null, chunk({ content: [{ type: 'thinking', thinking: [{ type: 'text', text: 'Mistral thinks.' }] }] }))
    out += t.push(null, chunk({ content: [{ type: 'text', text: 'Answer.' }] }))
    out += t.push(null, chunk({ refusal: ' I cannot say more.' }, 'stop'))
    out += t.push(null, '[DONE]')
    // The stream starts with the first real chunk, so its model (not the filter chunk's empty one) is shown.
    expect(anthropicEvents(out)[0]![1].message.model).toBe('ds')
    expect(deltas(out)).toEqual([
      { type: 'thinking_delta', thinking: 'Groq thinks. ' },
      { type: 'thinking_delta', thinking: 'Mistral thinks.' },
      { type: 'text_delta', text: 'Answer.' },
      { type: 'text_delta', text: ' I cannot say more.' },
    ])
    const whole = toAnthropicResponse({
      id: 'x',
      choices: [{ message: { role: 'assistant', reasoning: 'r.', content: [{ type: 'thinking', thinking: [{ type: 'text', text: 't.' }] }, { type: 'text', text: 'A.' }] }, finish_reason: 'stop' }],
    })
    expect(whole.content).toEqual([
      { type: 'thinking', thinking: 'r.t.', signature: '' },
      { type: 'text', text: 'A.' },
    ])
  })

  test('finish_reason length is max_tokens; an upstream error is an error event; a cut stream is an error', () => {
    const a = new OpenAIToAnthropicStream('ds')
    const done = anthropicEvents(a.push(null, chunk({ content: 'x' }, 'length')) + a.push(null, '[DONE]'))
    expect(done.find(([n]) => n === 'message_delta')![1].delta.stop_reason).toBe('max_tokens')
    const b = new OpenAIToAnthropicStream('ds')
    const failed = anthropicEvents(b.push(null, JSON.stringify({ error: { message: 'rate limited', type: 'rate_limit_error' } })))
    expect(failed.at(-1)![0]).toBe('error')
    const c = new OpenAIToAnthropicStream('ds')
    const cut = anthropicEvents(c.push(null, chunk({ content: 'x' })) + c.end())
    expect(cut.at(-1)![0]).toBe('error')
    expect(cut.some(([n]) => n === 'message_stop')).toBe(false)
  })
})

test('tool ids: valid ones stay, others are made valid the same way every time', () => {
  expect(sanitizeToolId('toolu_01AbC-x')).toBe('toolu_01AbC-x')
  expect(sanitizeToolId('functions.Read:0')).toBe('functions_Read_0')
  expect(sanitizeToolId('functions.Read:0')).toBe(sanitizeToolId('functions.Read:0'))
  expect(sanitizeToolId('')).toMatch(/^toolu_[a-z0-9]+$/)
})
