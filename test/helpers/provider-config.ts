import { DEFAULT_TIMEOUTS, type ProviderConfig } from '../../src/config/schema.ts'

/** A resolved provider config for unit tests that build catalogs directly. */
export const provider = (name: string, models?: string[], filters: string[] | null = null): ProviderConfig => ({
  name,
  type: 'openai',
  base_url: 'http://127.0.0.1:9/v1',
  keys: ['k'],
  key_labels: [],
  models,
  model_filters: filters,
  headers: {},
  timeouts: DEFAULT_TIMEOUTS,
  api: 'chat',
  responses_only_models: [],
  module: null,
  priority: 0,
  weight: null,
  max_concurrent_per_key: null,
  proxy: null,
  sticky: false,
  fake_stream: false,
  stream_only: false,
  default_max_tokens: 4096,
})
