import type * as ir from '../ir.ts'
import { plainCount, type Count } from '../media.ts'

/** A Responses `usage` object: its input tokens include the cached ones, as in chat. */
export function responsesUsage(raw: unknown, count: Count = plainCount): ir.Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as ir.Json
  return {
    input: count(u.input_tokens, 'input_tokens'),
    output: count(u.output_tokens, 'output_tokens'),
    cacheRead: count(u.input_tokens_details?.cached_tokens, 'input_tokens_details.cached_tokens'),
    cacheWrite: 0,
    reasoning: count(u.output_tokens_details?.reasoning_tokens, 'output_tokens_details.reasoning_tokens'),
  }
}

export function responsesUsageJson(u: Partial<ir.Usage> | undefined): ir.Json {
  const input = u?.input ?? 0
  const output = u?.output ?? 0
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u?.cacheRead ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u?.reasoning ?? 0 },
    total_tokens: input + output,
  }
}
