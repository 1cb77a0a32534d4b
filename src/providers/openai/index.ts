import { idsFromDataList } from '../model-list.ts'
import type { ProviderConfig } from '../../config/schema.ts'
import { limitReader } from '../limit-headers.ts'
import type { Operation, ProviderAdapter, UpstreamTarget } from '../types.ts'

const PATHS: Partial<Record<Operation, string>> = {
  chat: '/chat/completions',
  embeddings: '/embeddings',
  responses: '/responses',
}

function headersFor(target: UpstreamTarget): Record<string, string> {
  return {
    ...target.headers,
    authorization: `Bearer ${target.key}`,
    'content-type': 'application/json',
  }
}

const CHAT = ['openai-chat'] as const
const RESPONSES = ['openai-responses'] as const
const BOTH = ['openai-chat', 'openai-responses'] as const
const onlyResponses = new WeakMap<ProviderConfig, RegExp[]>()

/** Chat completions, Responses or both, as configured (`api`), with Responses-only models by pattern. */
function speaks(config: ProviderConfig, model: string): readonly string[] {
  if (config.responses_only_models.length > 0) {
    let patterns = onlyResponses.get(config)
    if (!patterns) onlyResponses.set(config, (patterns = config.responses_only_models.map((p) => new RegExp(p))))
    if (patterns.some((p) => p.test(model))) return RESPONSES
  }
  return config.api === 'both' ? BOTH : config.api === 'responses' ? RESPONSES : CHAT
}

/** Any OpenAI-compatible API: OpenAI itself, DeepSeek, Groq, OpenRouter, vLLM, Ollama, ... */
export const openaiAdapter: ProviderAdapter = {
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  speaks,
  readLimits: limitReader({
    requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
    tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
  }),
  // Wording of OpenAI and of the compatible services that copy it for a key that cannot be used.
  deadKey: /insufficient_quota|billing_hard_limit|account_deactivated|invalid_api_key|exceeded your current quota|api key (is )?(invalid|expired|revoked)/i,
  operations: ['chat', 'embeddings', 'responses'],
  request: (operation, target) => ({ url: target.baseUrl + PATHS[operation]!, headers: headersFor(target) }),
  // OpenAI-compatible base URLs end in their version (`/v1`, `/v4`, `/v1beta`); a 404 without one is the usual mistake.
  discoveryHint: (status, baseUrl, url) => (status === 404 && !/\/v\d+[a-z]*$/.test(baseUrl) ? ` at ${url}; does base_url need /v1 at the end?` : ''),
  modelsRequest: (target) => ({ url: target.baseUrl + '/models', headers: headersFor(target) }),
  parseModels: idsFromDataList,
}
