/** Token counts of one request, in OpenAI's convention: prompt tokens include cached ones. */
export interface Usage {
  promptTokens: number
  completionTokens: number
  cachedTokens: number
  reasoningTokens: number
}

/**
 * What an upstream may report: a count above `max` is clamped to it and anything that is not a
 * non-negative integer counts as zero, each told to `absurd`, so that a broken or hostile upstream
 * cannot charge a client key without bound.
 */
export interface UsageBound {
  max: number
  absurd(field: string, value: unknown): void
}

function count(value: unknown, field: string, bound: UsageBound | undefined): number {
  if (value === undefined || value === null) return 0
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    if (!bound || value <= bound.max) return value
    bound.absurd(field, value)
    return bound.max
  }
  bound?.absurd(field, value)
  return 0
}

/** Reads an Anthropic `usage` object: its input tokens exclude cache reads and writes. */
export function usageFromAnthropic(raw: unknown, bound?: UsageBound): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  const read = count(u.cache_read_input_tokens, 'cache_read_input_tokens', bound)
  return {
    promptTokens: count(u.input_tokens, 'input_tokens', bound) + read + count(u.cache_creation_input_tokens, 'cache_creation_input_tokens', bound),
    completionTokens: count(u.output_tokens, 'output_tokens', bound),
    cachedTokens: read,
    reasoningTokens: count(u.output_tokens_details?.thinking_tokens, 'output_tokens_details.thinking_tokens', bound),
  }
}

/** Reads a Responses API `usage` object (`input_tokens` include the cached ones, as in chat). */
export function usageFromResponses(raw: unknown, bound?: UsageBound): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  return {
    promptTokens: count(u.input_tokens, 'input_tokens', bound),
    completionTokens: count(u.output_tokens, 'output_tokens', bound),
    cachedTokens: count(u.input_tokens_details?.cached_tokens, 'input_tokens_details.cached_tokens', bound),
    reasoningTokens: count(u.output_tokens_details?.reasoning_tokens, 'output_tokens_details.reasoning_tokens', bound),
  }
}

/** Reads an OpenAI `usage` object (chat or embeddings); undefined when there is none. */
export function usageFromOpenAI(raw: unknown, bound?: UsageBound): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  return {
    promptTokens: count(u.prompt_tokens, 'prompt_tokens', bound),
    completionTokens: count(u.completion_tokens, 'completion_tokens', bound),
    cachedTokens: count(u.prompt_tokens_details?.cached_tokens, 'prompt_tokens_details.cached_tokens', bound),
    reasoningTokens: count(u.completion_tokens_details?.reasoning_tokens, 'completion_tokens_details.reasoning_tokens', bound),
  }
}
