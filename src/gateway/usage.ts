import type * as ir from '../protocols/ir.ts'
import type { Count } from '../protocols/media.ts'

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

/** A usage field reader that applies a bound. */
export function boundedCount(bound: UsageBound | undefined): Count {
  return (value, field) => {
    if (value === undefined || value === null) return 0
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
      if (!bound || value <= bound.max) return value
      bound.absurd(field, value)
      return bound.max
    }
    bound?.absurd(field, value)
    return 0
  }
}

/** Usage in the gateway's terms. Counts already read through a bound pass as they are; others are bounded here. */
export function metered(u: Partial<ir.Usage> | undefined, bound?: UsageBound): Usage | undefined {
  if (!u) return undefined
  const count = boundedCount(bound)
  return {
    promptTokens: count(u.input ?? 0, 'input_tokens'),
    completionTokens: count(u.output ?? 0, 'output_tokens'),
    cachedTokens: count(u.cacheRead ?? 0, 'cached_tokens'),
    reasoningTokens: count(u.reasoning ?? 0, 'reasoning_tokens'),
  }
}
