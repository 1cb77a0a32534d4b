import type { ProviderAdapter } from '../types.ts'

/**
 * `type: module`: a provider whose last mile is an adapter file. This entry only names the type
 * for the config; each configured provider gets its own adapter, built from its loaded module
 * (src/adapters), which answers through `exchange` instead of an HTTP request built here.
 */
export const moduleAdapterType: ProviderAdapter = {
  type: 'module',
  defaultBaseUrl: '',
  speaks: () => ['openai-chat'],
  operations: ['chat', 'responses', 'messages', 'generate_content'],
  readLimits: () => ({ requests: null, tokens: null }),
  deadKey: /$^/,
  request: () => {
    throw new Error('a module provider answers through its loaded adapter, not an HTTP request')
  },
  modelsRequest: () => {
    throw new Error('a module provider lists its models in the config')
  },
  parseModels: () => [],
}

/** The adapter of a `type: flow` provider: the built-in declarative one, whose options are the flow. */
export const FLOW_MODULE = 'builtin:flow'

/** `type: flow`: a provider described in the config alone (steps, templates, answer paths), run by the built-in adapter. */
export const flowAdapterType: ProviderAdapter = { ...moduleAdapterType, type: 'flow', operations: ['chat'] }
