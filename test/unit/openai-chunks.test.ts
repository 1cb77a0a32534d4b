import { describe, expect, test } from 'bun:test'
import { completionToSse, sseToCompletion } from '../../src/protocols/openai-chat/chunks.ts'

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [
    {
      index: 0,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: 'Checking.',
        reasoning_content: 'The user wants weather.',
        refusal: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'call_b', type: 'function', function: { name: 'time', arguments: '{}' } },
        ],
      },
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 },
}

describe('completion <-> chunks', () => {
  test('a completion replayed as chunks folds back into the same completion', () => {
    const sse = completionToSse(completion, true)
    const text = new TextDecoder().decode(sse)
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(text).toContain('"choices":[],"usage"')
    expect(sseToCompletion(sse)).toEqual(completion)
  })

  test('without include_usage there is no usage chunk', () => {
    expect(new TextDecoder().decode(completionToSse(completion, false))).not.toContain('"usage"')
  })

  test('an error event in the stream is an error, not an empty answer', () => {
    const bytes = new TextEncoder().encode('data: {"error":{"message":"boom"}}\n\n')
    expect(() => sseToCompletion(bytes)).toThrow('boom')
  })
})
