import type * as ir from '../ir.ts'
import { plainCount, type Count } from '../media.ts'

/** A Messages `usage` object: its input tokens exclude cache reads and writes. */
export function anthropicUsage(raw: unknown, count: Count = plainCount): ir.Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as ir.Json
  const read = count(u.cache_read_input_tokens, 'cache_read_input_tokens')
  const write = count(u.cache_creation_input_tokens, 'cache_creation_input_tokens')
  return {
    input: count(u.input_tokens, 'input_tokens') + read + write,
    output: count(u.output_tokens, 'output_tokens'),
    cacheRead: read,
    cacheWrite: write,
    reasoning: count(u.output_tokens_details?.thinking_tokens, 'output_tokens_details.thinking_tokens'),
  }
}

export function anthropicUsageJson(u: Partial<ir.Usage> | undefined): ir.Json {
  const read = u?.cacheRead ?? 0
  const write = u?.cacheWrite ?? 0
  return {
    input_tokens: Math.max(0, (u?.input ?? 0) - read - write),
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
    output_tokens: u?.output ?? 0,
  }
}

export const ANTHROPIC_FINISH: Record<string, ir.FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
}

export const FINISH_TO_ANTHROPIC: Record<ir.FinishReason, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  content_filter: 'refusal',
  error: 'end_turn',
  other: 'end_turn',
}
