import type { Usage } from '../../usage.ts'

/** USD per million tokens. */
export interface Price {
  prompt: number
  completion: number
  /** For cached prompt tokens; the prompt price when not given. */
  cached_prompt?: number
}

/**
 * Whether a model has a price: by `provider/model`, or by the model name alone; with no provider
 * given, a price for the model at any provider counts. An unpriced model is not a free one.
 */
export function isPriced(prices: Readonly<Record<string, Price>>, model: string, provider?: string | null): boolean {
  if (Object.hasOwn(prices, model)) return true
  if (provider) return Object.hasOwn(prices, `${provider}/${model}`)
  return Object.keys(prices).some((k) => k.endsWith(`/${model}`))
}

/**
 * The cost of one request. Prices are looked up by `provider/model`, then the upstream model name,
 * then the name the client asked for; a model without a price costs nothing.
 */
export function costOf(prices: Readonly<Record<string, Price>>, names: readonly string[], usage: Usage | undefined): number {
  if (!usage) return 0
  let price: Price | undefined
  for (const name of names) if (Object.hasOwn(prices, name) && (price = prices[name]) !== undefined) break
  if (!price) return 0
  const cached = Math.min(usage.cachedTokens, usage.promptTokens)
  const fresh = usage.promptTokens - cached
  return (fresh * price.prompt + cached * (price.cached_prompt ?? price.prompt) + usage.completionTokens * price.completion) / 1_000_000
}
