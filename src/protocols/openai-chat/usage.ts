import type * as ir from '../ir.ts'
import { plainCount, type Count } from '../media.ts'

/** A chat `usage` object: its prompt tokens include cached ones. */
export function chatUsage(raw: unknown, count: Count = plainCount): ir.Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as ir.Json
  const prompt = count(u.prompt_tokens, 'prompt_tokens')
  const completion = count(u.completion_tokens, 'completion_tokens')
  const reasoning = count(u.completion_tokens_details?.reasoning_tokens, 'completion_tokens_details.reasoning_tokens')
  // OpenAI counts reasoning inside completion tokens; xAI beside them, which its total shows.
  const apart = reasoning > 0 && typeof u.total_tokens === 'number' && u.total_tokens === prompt + completion + reasoning
  return {
    input: prompt,
    output: apart ? completion + reasoning : completion,
    cacheRead: count(u.prompt_tokens_details?.cached_tokens, 'prompt_tokens_details.cached_tokens'),
    cacheWrite: count(u.prompt_tokens_details?.cache_write_tokens, 'prompt_tokens_details.cache_write_tokens'),
    reasoning,
  }
}

export function chatUsageJson(u: Partial<ir.Usage> | undefined): ir.Json {
  const input = u?.input ?? 0
  const output = u?.output ?? 0
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: u?.cacheRead ?? 0, ...(u?.cacheWrite ? { cache_write_tokens: u.cacheWrite } : {}) },
    completion_tokens_details: { reasoning_tokens: u?.reasoning ?? 0 },
  }
}

export const CHAT_FINISH: Record<string, ir.FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
}

export const FINISH_TO_CHAT: Record<ir.FinishReason, string> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  content_filter: 'content_filter',
  error: 'stop',
  other: 'stop',
}
