import type { Handler, SeenRequest } from './mock-upstream.ts'

/**
 * A programmable Gemini API upstream on 127.0.0.1, port 0, in the real wire format: `data:` SSE
 * chunks with new parts and cumulative usageMetadata (finishReason on the last), function calls
 * without ids, and Google's error shape. A test may set `handler`.
 */
export interface MockGemini {
  url: string
  requests: SeenRequest[]
  handler: Handler | null
  stop(): void
}

export const GEMINI_USAGE = { promptTokenCount: 30, cachedContentTokenCount: 10, candidatesTokenCount: 7, thoughtsTokenCount: 4, totalTokenCount: 41 }
export const THOUGHT_SIGNATURE = 'CiQBjz1rX2Z0aG91Z2h0LXNpZ25hdHVyZS1vZi1nZW1pbmk='

const enc = new TextEncoder()

/** SSE in Gemini's form: one `data:` line per chunk, no event names, no [DONE]. */
export function geminiSse(chunks: object[], delayMs = 0): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(c) {
      for (const chunk of chunks) {
        c.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\r\n\r\n`))
        if (delayMs) await Bun.sleep(delayMs)
      }
      c.close()
    },
  })
}

const chunk = (parts: object[], extra: object = {}) => ({ candidates: [{ content: { role: 'model', parts }, index: 0, ...extra }], modelVersion: 'gemini-test', responseId: 'resp-gem-1' })

/** The default answer: thoughts with a signature, then text; with tools offered, a function call (signed) instead of text. */
export function defaultGeminiParts(body: any): object[] {
  const tools = body.tools?.[0]?.functionDeclarations ?? []
  const called = (body.contents ?? []).some((c: any) => c.parts?.some((p: any) => p.functionResponse))
  if (tools.length > 0 && !called) return [{ text: 'Thinking about the weather.', thought: true }, { functionCall: { name: tools[0].name, args: { city: 'Paris' } }, thoughtSignature: THOUGHT_SIGNATURE }]
  return [{ text: 'Thinking.', thought: true, thoughtSignature: THOUGHT_SIGNATURE }, { text: 'Hello from Gemini' }]
}

export function startMockGemini(models = ['gemini-test']): MockGemini {
  const mock: MockGemini = { url: '', requests: [], handler: null, stop: () => server.stop(true) }
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
      if (req.headers.get('x-goog-api-key') === 'bad-key') {
        return Response.json({ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' } }, { status: 400 })
      }
      if (url.pathname === '/v1beta/models') return Response.json({ models: models.map((id) => ({ name: `models/${id}`, supportedGenerationMethods: ['generateContent'] })) })
      const m = /^\/v1beta\/models\/(.+):(generateContent|streamGenerateContent|countTokens|batchEmbedContents)$/.exec(url.pathname)
      if (!m) return Response.json({ error: { code: 404, message: `no route ${url.pathname}`, status: 'NOT_FOUND' } }, { status: 404 })
      if (m[2] === 'countTokens') return Response.json({ totalTokens: 17 })
      if (m[2] === 'batchEmbedContents') return Response.json({ embeddings: (body.requests ?? []).map((_: unknown, i: number) => ({ values: [i, 0.5, -0.5] })) })
      const parts = defaultGeminiParts(body)
      if (m[2] === 'generateContent') return Response.json({ ...chunk(parts, { finishReason: 'STOP' }), usageMetadata: GEMINI_USAGE })
      // Streamed: each part in its own chunk, usage on every chunk (cumulative), STOP on the last.
      const chunks = parts.map((p, i) => ({ ...chunk([p], i === parts.length - 1 ? { finishReason: 'STOP' } : {}), usageMetadata: { ...GEMINI_USAGE, candidatesTokenCount: i + 1 } }))
      chunks[chunks.length - 1] = { ...chunks[chunks.length - 1]!, usageMetadata: GEMINI_USAGE }
      return new Response(geminiSse(chunks), { headers: { 'content-type': 'text/event-stream' } })
    },
  })
  mock.url = `http://127.0.0.1:${server.port}`
  return mock
}
