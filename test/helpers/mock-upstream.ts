/**
 * A programmable OpenAI-compatible upstream on 127.0.0.1, port 0. By default it answers like
 * OpenAI; a test replaces `handler` to make it fail, stall or stream whatever it needs. The API key
 * it is called with can also decide (see keyBehaviour): `k-429-...`, `k-401-...`, `k-500-...`,
 * `k-exhausted-...`, `k-stall-...`; any other key answers normally.
 */
export interface SeenRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: any
}

export type Handler = (req: Request, body: any, seen: SeenRequest) => Response | Promise<Response>

export interface MockUpstream {
  url: string
  baseUrl: string
  requests: SeenRequest[]
  handler: Handler | null
  /** Streams whose client went away before the end. */
  cancelledStreams: number
  models: string[]
  /** A gateway provider config for this mock: model `m` unless `extra` says otherwise. */
  provider(name: string, keys: string[], extra?: object): object
  stop(): void
}

const enc = new TextEncoder()

export function sse(events: Array<object | string>, delayMs = 0): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      for (const e of events) {
        controller.enqueue(enc.encode(`data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`))
        if (delayMs) await Bun.sleep(delayMs)
      }
      controller.close()
    },
  })
}

export function chunk(delta: object, finish: string | null = null, extra: object = {}) {
  return {
    id: 'chatcmpl-mock',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'mock-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  }
}

export const MOCK_USAGE = {
  prompt_tokens: 11,
  completion_tokens: 7,
  total_tokens: 18,
  prompt_tokens_details: { cached_tokens: 3 },
  completion_tokens_details: { reasoning_tokens: 0 },
}

export function defaultChat(body: any): Response {
  if (body.stream) {
    const events: Array<object | string> = [
      chunk({ role: 'assistant', content: '' }, null, { usage: null }),
      chunk({ content: 'Hello' }, null, { usage: null }),
      chunk({ content: ' world' }, null, { usage: null }),
      chunk({}, 'stop', { usage: null }),
    ]
    if (body.stream_options?.include_usage) {
      events.push({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1700000000, model: 'mock-model', choices: [], usage: MOCK_USAGE })
    }
    events.push('[DONE]')
    return new Response(sse(events), { headers: { 'content-type': 'text/event-stream' } })
  }
  return Response.json({
    id: 'chatcmpl-mock',
    object: 'chat.completion',
    created: 1700000000,
    model: body.model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world', refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: MOCK_USAGE,
  })
}

export const RESPONSES_USAGE = { input_tokens: 9, input_tokens_details: { cached_tokens: 4 }, output_tokens: 6, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 15 }

/** The Responses API: one message output, or its event stream ending in response.completed. */
export function defaultResponse(body: any): Response {
  const message = { id: 'msg_r1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello from responses', annotations: [] }] }
  const response = { id: 'resp_1', object: 'response', created_at: 1700000000, status: 'completed', model: body.model, output: [message], usage: RESPONSES_USAGE }
  if (!body.stream) return Response.json(response)
  const events: Array<[string, object]> = [
    ['response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } }],
    ['response.output_item.added', { output_index: 0, item: { ...message, status: 'in_progress', content: [] } }],
    ['response.content_part.added', { output_index: 0, item_id: 'msg_r1', content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }],
    ['response.output_text.delta', { output_index: 0, item_id: 'msg_r1', content_index: 0, delta: 'Hello from ' }],
    ['response.output_text.delta', { output_index: 0, item_id: 'msg_r1', content_index: 0, delta: 'responses' }],
    ['response.output_text.done', { output_index: 0, item_id: 'msg_r1', content_index: 0, text: 'Hello from responses' }],
    ['response.content_part.done', { output_index: 0, item_id: 'msg_r1', content_index: 0, part: message.content[0] }],
    ['response.output_item.done', { output_index: 0, item: message }],
    ['response.completed', { response }],
  ]
  const text = events.map(([name, data], i) => `event: ${name}\ndata: ${JSON.stringify({ type: name, sequence_number: i, ...data })}\n\n`).join('')
  return new Response(text, { headers: { 'content-type': 'text/event-stream' } })
}

export function startMockUpstream(models: string[] = ['mock-model', 'text-embedding-3-small']): MockUpstream {
  const mock: MockUpstream = {
    url: '',
    baseUrl: '',
    requests: [],
    handler: null,
    cancelledStreams: 0,
    models,
    provider: (name, keys, extra = {}) => ({ name, type: 'openai', base_url: mock.baseUrl, keys, models: ['m'], ...extra }),
    stop: () => server.stop(true),
  }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const text = req.method === 'GET' ? '' : await req.text()
      let body: any = text
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {}
      const seen: SeenRequest = { method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body }
      mock.requests.push(seen)
      if (mock.handler) return mock.handler(req, body, seen)
      const keyed = await keyBehaviour(seen, req.signal)
      if (keyed) return keyed
      if (url.pathname === '/v1/models') {
        return Response.json({ object: 'list', data: mock.models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'mock' })) })
      }
      if (url.pathname === '/v1/chat/completions') return defaultChat(body)
      if (url.pathname === '/v1/responses') return defaultResponse(body)
      if (url.pathname === '/v1/embeddings') {
        const inputs = Array.isArray(body.input) ? body.input : [body.input]
        const vector = [0.25, -0.5, 1]
        return Response.json({
          object: 'list',
          model: body.model,
          data: inputs.map((_: unknown, index: number) => ({
            object: 'embedding',
            index,
            embedding: body.encoding_format === 'base64' && body.honour !== false
              ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
              : vector,
          })),
          usage: { prompt_tokens: 4, total_tokens: 4 },
        })
      }
      return Response.json({ error: { message: 'not found', type: 'invalid_request_error' } }, { status: 404 })
    },
  })
  mock.url = `http://127.0.0.1:${server.port}`
  mock.baseUrl = `${mock.url}/v1`
  return mock
}

/** The key a request was made with. */
export function keyOf(seen: SeenRequest): string {
  return (seen.headers.authorization ?? '').replace(/^Bearer /, '')
}

async function keyBehaviour(seen: SeenRequest, signal: AbortSignal): Promise<Response | null> {
  if (seen.path === '/v1/models') return null
  const key = keyOf(seen)
  if (key.startsWith('k-429')) {
    return Response.json(
      { error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } },
      { status: 429, headers: { 'retry-after-ms': key.split('-')[2] ?? '1000', 'x-ratelimit-remaining-requests': '0' } },
    )
  }
  if (key.startsWith('k-401')) {
    return Response.json({ error: { message: 'Incorrect API key provided', code: 'invalid_api_key' } }, { status: 401 })
  }
  if (key.startsWith('k-quota')) {
    return Response.json(
      { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
      { status: 429 },
    )
  }
  if (key.startsWith('k-500')) return Response.json({ error: { message: 'internal failure' } }, { status: 500 })
  if (key.startsWith('k-stall')) {
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
    return new Response('gone', { status: 500 })
  }
  if (key.startsWith('k-exhausted')) {
    const res = defaultChat(seen.body)
    res.headers.set('x-ratelimit-limit-requests', '100')
    res.headers.set('x-ratelimit-remaining-requests', '0')
    res.headers.set('x-ratelimit-reset-requests', '1s')
    return res
  }
  return null
}

/** A stream that reports its own cancellation to the mock (to prove the gateway aborted it). */
export function endlessStream(mock: MockUpstream, everyMs = 20): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setInterval>
  return new ReadableStream({
    start(controller) {
      timer = setInterval(() => {
        try {
          controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk({ content: 'x' }))}\n\n`))
        } catch {
          clearInterval(timer)
        }
      }, everyMs)
    },
    cancel() {
      clearInterval(timer)
      mock.cancelledStreams++
    },
  })
}
