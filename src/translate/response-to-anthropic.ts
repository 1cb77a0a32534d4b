import { OPENAI_TO_ANTHROPIC_STOP, openaiTextParts, openaiUsageToAnthropic, sanitizeToolId, type Json } from './common.ts'

function toolInput(args: unknown): Json {
  try {
    const parsed = typeof args === 'string' && args ? JSON.parse(args) : {}
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {}
  } catch {
    return {}
  }
}

/** An OpenAI chat completion as an Anthropic Messages response. */
export function toAnthropicResponse(completion: Json): Json {
  const choice = completion.choices?.[0] ?? {}
  const message = choice.message ?? {}
  const content: Json[] = []
  // Reasoning from an OpenAI-compatible provider has no signature.
  const { reasoning, text } = openaiTextParts(message)
  if (reasoning) content.push({ type: 'thinking', thinking: reasoning, signature: '' })
  if (text) content.push({ type: 'text', text })
  for (const call of (message.tool_calls ?? []) as Json[]) {
    content.push({ type: 'tool_use', id: sanitizeToolId(call.id), name: call.function?.name ?? '', input: toolInput(call.function?.arguments) })
  }
  return {
    id: `msg_${String(completion.id ?? '').replace(/^chatcmpl-/, '') || Math.random().toString(36).slice(2)}`,
    type: 'message',
    role: 'assistant',
    model: completion.model,
    content,
    stop_reason: OPENAI_TO_ANTHROPIC_STOP[choice.finish_reason] ?? 'end_turn',
    stop_sequence: null,
    usage: openaiUsageToAnthropic(completion.usage),
  }
}
