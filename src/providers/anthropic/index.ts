import { idsFromDataList } from '../model-list.ts'
import { limitReader } from '../limit-headers.ts'
import type { Operation, ProviderAdapter, UpstreamTarget } from '../types.ts'

const PATHS: Partial<Record<Operation, string>> = {
  messages: '/v1/messages',
  count_tokens: '/v1/messages/count_tokens',
}

const MESSAGES = ['anthropic'] as const

export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01'

function headersFor(target: UpstreamTarget): Record<string, string> {
  const pass = target.passHeaders ?? {}
  return {
    ...target.headers,
    'x-api-key': target.key,
    // The client's version and beta flags are forwarded as they are: the list of betas is open.
    'anthropic-version': pass['anthropic-version'] ?? DEFAULT_ANTHROPIC_VERSION,
    ...(pass['anthropic-beta'] ? { 'anthropic-beta': pass['anthropic-beta'] } : {}),
    'content-type': 'application/json',
  }
}

/** Anthropic's Messages API. `base_url` is given without `/v1`, as the Anthropic SDK expects. */
export const anthropicAdapter: ProviderAdapter = {
  type: 'anthropic',
  speaks: () => MESSAGES,
  readLimits: limitReader({
    requests: ['anthropic-ratelimit-requests-limit', 'anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset'],
    tokens: ['anthropic-ratelimit-tokens-limit', 'anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-reset'],
  }),
  // Anthropic's words for an account that cannot pay, and the generic ones of its relays.
  deadKey: /credit balance is too low|insufficient_quota|billing|api key (is )?(invalid|expired|revoked)|invalid x-api-key/i,
  defaultBaseUrl: 'https://api.anthropic.com',
  operations: ['messages', 'count_tokens'],
  request: (operation, target) => ({ url: target.baseUrl + PATHS[operation]!, headers: headersFor(target) }),
  modelsRequest: (target) => ({ url: `${target.baseUrl}/v1/models?limit=1000`, headers: headersFor(target) }),
  parseModels: idsFromDataList,
}
