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
