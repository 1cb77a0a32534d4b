import { ANTHROPIC_TO_OPENAI_STOP, anthropicUsageToOpenAI, type Json } from './common.ts'

/** An Anthropic Messages response as an OpenAI chat completion. */
export function toOpenAIResponse(message: Json, created = Math.floor(Date.now() / 1000)): Json {
  const blocks: Json[] = Array.isArray(message.content) ? message.content : []
  const text = blocks.filter((b) => b.type === 'text').map((b) => b.text).join('')
  const thinking = blocks.filter((b) => b.type === 'thinking').map((b) => b.thinking).join('')
  const calls = blocks
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }))
  return {
    id: `chatcmpl-${String(message.id ?? '').replace(/^msg_/, '')}`,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (calls.length > 0 ? null : ''),
          refusal: null,
          ...(thinking ? { reasoning_content: thinking } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        finish_reason: ANTHROPIC_TO_OPENAI_STOP[message.stop_reason] ?? 'stop',
        logprobs: null,
      },
    ],
    usage: anthropicUsageToOpenAI(message.usage),
  }
}
