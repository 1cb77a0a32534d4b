import { declaredOver, readBounded } from '../lib/bounded-read.ts'
import type { ByteReader } from '../lib/sse.ts'
import type { ProviderAdapter, UpstreamTarget } from './types.ts'

/** Model ids from a `{ data: [{ id }] }` list, the shape both OpenAI and Anthropic use. */
export function idsFromDataList(body: unknown): string[] {
  const data = (body as { data?: unknown })?.data
  if (!Array.isArray(data)) return []
  return data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string')
}

export interface ModelListOptions {
  fetchFn?: typeof fetch
  proxy?: string | null
  timeoutMs: number
  /** The list may be at most this long, after decompression. */
  maxBytes: number
}

/** What `fetchModelList` found: the answer's status and the listed ids. */
export interface ModelListAnswer {
  status: number
  models: string[]
}

/**
 * One `GET /models` (or the API's equivalent) with one key: never follows a redirect (it would carry
 * the key elsewhere), reads a bounded body. Throws with the reason; `status` is on the error when the
 * upstream answered.
 */
export async function fetchModelList(adapter: ProviderAdapter, target: UpstreamTarget, options: ModelListOptions): Promise<ModelListAnswer> {
  const { url, headers } = adapter.modelsRequest(target)
  const res = await (options.fetchFn ?? fetch)(url, {
    headers,
    signal: AbortSignal.timeout(options.timeoutMs),
    redirect: 'manual',
    ...(options.proxy ? { proxy: options.proxy } : {}),
  } as RequestInit)
  if (!res.ok || !res.body) {
    res.body?.cancel().catch(() => {})
    const location = res.headers.get('location')
    // An OpenAI-compatible base URL usually ends in /v1; without it the model list is a 404.
    const hint = adapter.discoveryHint?.(res.status, target.baseUrl, url) ?? ''
    throw Object.assign(new Error(res.status >= 300 && res.status < 400 ? `HTTP ${res.status} redirect to ${location ?? '(no location)'}, not followed` : `HTTP ${res.status}${hint}`), { status: res.status })
  }
  const tooLong = () => Object.assign(new Error(`the model list is larger than ${options.maxBytes} bytes`), { status: res.status })
  if (declaredOver(res.headers, options.maxBytes)) {
    res.body.cancel().catch(() => {})
    throw tooLong()
  }
  const body = await readBounded(res.body.getReader() as unknown as ByteReader, options.maxBytes)
  if (!body.complete) throw tooLong()
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder().decode(body.bytes))
  } catch {
    throw Object.assign(new Error('the model list is not JSON'), { status: res.status })
  }
  return { status: res.status, models: adapter.parseModels(parsed) }
}
