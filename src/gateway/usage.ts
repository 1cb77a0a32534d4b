/** Token counts of one request, in OpenAI's convention: prompt tokens include cached ones. */
export interface Usage {
  promptTokens: number
  completionTokens: number
  cachedTokens: number
  reasoningTokens: number
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0
}

/** Reads an Anthropic `usage` object: its input tokens exclude cache reads and writes. */
export function usageFromAnthropic(raw: unknown): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  const read = count(u.cache_read_input_tokens)
  return {
    promptTokens: count(u.input_tokens) + read + count(u.cache_creation_input_tokens),
    completionTokens: count(u.output_tokens),
    cachedTokens: read,
    reasoningTokens: count(u.output_tokens_details?.thinking_tokens),
  }
}

/** Reads a Responses API `usage` object (`input_tokens` include the cached ones, as in chat). */
export function usageFromResponses(raw: unknown): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  return {
    promptTokens: count(u.input_tokens),
    completionTokens: count(u.output_tokens),
    cachedTokens: count(u.input_tokens_details?.cached_tokens),
    reasoningTokens: count(u.output_tokens_details?.reasoning_tokens),
  }
}

/** Reads an OpenAI `usage` object (chat or embeddings); undefined when there is none. */
export function usageFromOpenAI(raw: unknown): Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, any>
  return {
    promptTokens: count(u.prompt_tokens),
    completionTokens: count(u.completion_tokens),
    cachedTokens: count(u.prompt_tokens_details?.cached_tokens),
    reasoningTokens: count(u.completion_tokens_details?.reasoning_tokens),
  }
}
