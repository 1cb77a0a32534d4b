import type { Operation, ProviderAdapter, UpstreamTarget } from '../types.ts'

const METHODS: Partial<Record<Operation, string>> = {
  gemini_count_tokens: ':countTokens',
  embed_content: ':embedContent',
  batch_embed_contents: ':batchEmbedContents',
}

const GEMINI = ['gemini'] as const

/** The API root with its version: a base URL given with `/v1` or `/v1beta` keeps it, one without gets `/v1beta`. */
const root = (baseUrl: string) => (/\/v1(?:beta|alpha)?$/.test(baseUrl) ? baseUrl : `${baseUrl}/v1beta`)

function headersFor(target: UpstreamTarget): Record<string, string> {
  return { ...target.headers, 'x-goog-api-key': target.key, 'content-type': 'application/json' }
}

/** Google's `google.rpc.RetryInfo` delay (`"34s"`, `"1.5s"`) in an error body, in seconds. */
function retryAfter(text: string): number | null {
  try {
    const json = JSON.parse(text)
    const error = Array.isArray(json) ? json[0]?.error : json?.error
    for (const d of (error?.details ?? []) as Array<Record<string, any>>) {
      const delay = typeof d?.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay) : null
      if (delay) return Number(delay[1])
    }
  } catch {
    // not JSON
  }
  const said = /Please retry in ([0-9.]+)(ms|s)/.exec(text)
  return said ? Number(said[1]) / (said[2] === 'ms' ? 1000 : 1) : null
}

/** Google's Gemini API (AI Studio keys). `base_url` is given without a version, as the GenAI SDKs take it. */
export const geminiAdapter: ProviderAdapter = {
  type: 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  operations: ['generate_content', 'gemini_count_tokens', 'embed_content', 'batch_embed_contents'],
  speaks: () => GEMINI,
  // Gemini sends no rate-limit headers; its 429 bodies say how long to wait.
  readLimits: () => ({ requests: null, tokens: null }),
  retryAfter,
  deadKey: /API key not valid|API_KEY_INVALID|API key expired|API_KEY_SERVICE_BLOCKED|billing account|CONSUMER_SUSPENDED/i,
  request(operation, target) {
    const method = operation === 'generate_content' ? (target.stream ? ':streamGenerateContent?alt=sse' : ':generateContent') : METHODS[operation]!
    return { url: `${root(target.baseUrl)}/models/${target.model}${method}`, headers: headersFor(target) }
  },
  modelsRequest: (target) => ({ url: `${root(target.baseUrl)}/models?pageSize=1000`, headers: headersFor(target) }),
  parseModels(body) {
    const models = (body as { models?: unknown })?.models
    if (!Array.isArray(models)) return []
    return models
      .map((m) => (m as { name?: unknown })?.name)
      .filter((n): n is string => typeof n === 'string')
      .map((n) => n.replace(/^models\//, ''))
  },
}
