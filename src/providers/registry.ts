import { anthropicAdapter } from './anthropic/index.ts'
import { geminiAdapter } from './gemini/index.ts'
import { openaiAdapter } from './openai/index.ts'
import { flowAdapterType, moduleAdapterType } from './module/index.ts'
import type { ProviderAdapter } from './types.ts'

/** Every supported upstream API. Adding a provider is one folder and one line here. */
export const adapters: readonly ProviderAdapter[] = [openaiAdapter, anthropicAdapter, geminiAdapter, moduleAdapterType, flowAdapterType]

export const providerTypes = adapters.map((a) => a.type)

export function adapterFor(type: string): ProviderAdapter {
  const adapter = adapters.find((a) => a.type === type)
  if (!adapter) throw new Error(`unknown provider type ${type}`)
  return adapter
}
