import type { Handler, SeenRequest } from './mock-upstream.ts'

/**
 * A programmable Anthropic Messages upstream on 127.0.0.1, port 0: answers like the real API
 * (named SSE events, usage with cache fields) unless a test sets `handler`.
 */
export interface MockAnthropic {
  url: string
  requests: SeenRequest[]
  handler: Handler | null
  stop(): void
}

const enc = new TextEncoder()

export function anthropicSse(events: Array<[string, object]>, delayMs = 0): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(c) {
      for (const [name, data] of events) {
        c.enqueue(enc.encode(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`))
        if (delayMs) await Bun.sleep(delayMs)
      }
      c.close()
    },
  })
}

export const ANTHROPIC_USAGE = { input_tokens: 20, cache_read_input_tokens: 5, cache_creation_input_tokens: 2, output_tokens: 9 }

/** A message with a text block and, when tools were offered, a tool call after it. */
export function defaultMessage(body: any): any {
  const content: any[] = [{ type: 'text', text: 'Hello from Claude' }]
  if (body.tools?.length) content.push({ type: 'tool_use', id: 'toolu_01', name: body.tools[0].name, input: { city: 'Paris' } })
  return {
    id: 'msg_mock1',
    type: 'message',
    role: 'assistant',
    model: body.model,
    content,
    stop_reason: body.tools?.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: ANTHROPIC_USAGE,
  }
}

export function defaultMessageStream(body: any): ReadableStream<Uint8Array> {
  const events: Array<[string, object]> = [
    ['message_start', { message: { id: 'msg_mock1', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...ANTHROPIC_USAGE, output_tokens: 1 } } }],
    ['ping', {}],
    ['content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }],
    ['content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think.' } }],
    ['content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'sig' } }],
    ['content_block_stop', { index: 0 }],
    ['content_block_start', { index: 1, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hello ' } }],
    ['content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'from Claude' } }],
    ['content_block_stop', { index: 1 }],
  ]
  if (body.tools?.length) {
    events.push(
      ['content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_01', name: body.tools[0].name, input: {} } }],
      ['content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"city":' } }],
      ['content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: ' "Paris"}' } }],
      ['content_block_stop', { index: 2 }],
    )
  }
  events.push(
    ['message_delta', { delta: { stop_reason: body.tools?.length ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } }],
    ['message_stop', {}],
  )
  return anthropicSse(events)
}

export function startMockAnthropic(models = ['claude-test']): MockAnthropic {
  const mock: MockAnthropic = { url: '', requests: [], handler: null, stop: () => server.stop(true) }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const text = req.method === 'GET' ? '' : await req.text()
      let body: any
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        body = text
      }
      const seen: SeenRequest = { method: req.method, path: url.pathname + url.search, headers: Object.fromEntries(req.headers), body }
      mock.requests.push(seen)
      if (mock.handler) return mock.handler(req, body, seen)
      if (req.headers.get('x-api-key') === 'bad-key') {
        return Response.json({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }, { status: 401 })
      }
      if (url.pathname === '/v1/models') {
        return Response.json({ data: models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' })), has_more: false })
      }
      if (url.pathname === '/v1/messages/count_tokens') return Response.json({ input_tokens: 42 })
      if (url.pathname === '/v1/messages') {
        if (body.stream) return new Response(defaultMessageStream(body), { headers: { 'content-type': 'text/event-stream' } })
        return Response.json(defaultMessage(body))
      }
      return Response.json({ type: 'error', error: { type: 'not_found_error', message: 'no route' } }, { status: 404 })
    },
  })
  mock.url = `http://127.0.0.1:${server.port}`
  return mock
}
