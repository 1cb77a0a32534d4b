import { idsFromDataList } from '../model-list.ts'
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

/** Any OpenAI-compatible API: OpenAI itself, DeepSeek, Groq, OpenRouter, vLLM, Ollama, ... */
export const openaiAdapter: ProviderAdapter = {
  type: 'openai',
  protocol: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  operations: ['chat', 'embeddings', 'responses'],
  request: (operation, target) => ({ url: target.baseUrl + PATHS[operation]!, headers: headersFor(target) }),
  modelsRequest: (target) => ({ url: target.baseUrl + '/models', headers: headersFor(target) }),
  parseModels: idsFromDataList,
}
