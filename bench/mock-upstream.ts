// A fast OpenAI-compatible upstream for benchmarks. The model name sets the stream's shape:
// `bench-s<chunks>-d<delay ms>` streams that many chunks that far apart. Prints its port.
const encoder = new TextEncoder()
const usage = { prompt_tokens: 12, completion_tokens: 50, total_tokens: 62, prompt_tokens_details: { cached_tokens: 0 } }
const completion = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model: 'bench-json',
  choices: [{ index: 0, message: { role: 'assistant', content: 'A short benchmark answer of a few words.' }, finish_reason: 'stop', logprobs: null }],
  usage,
})
const chunk = (i: number) => encoder.encode(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{"content":"tok${i} "},"finish_reason":null}],"usage":null}\n\n`)
const finish = encoder.encode('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n')
const usageChunk = encoder.encode(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","choices":[],"usage":${JSON.stringify(usage)}}\n\n`)
const done = encoder.encode('data: [DONE]\n\n')
const chunks = Array.from({ length: 1000 }, (_, i) => chunk(i))

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname
    if (path.endsWith('/models')) return Response.json({ object: 'list', data: [{ id: 'bench-json', object: 'model' }] })
    const body = (await req.json()) as { model: string; stream?: boolean; stream_options?: { include_usage?: boolean } }
    if (!body.stream) return new Response(completion, { headers: { 'content-type': 'application/json' } })
    const [, n = '50', delay = '0'] = /^bench-s(\d+)-d(\d+)$/.exec(body.model) ?? []
    const count = Number(n)
    const wait = Number(delay)
    let i = 0
    return new Response(
      new ReadableStream({
        async pull(controller) {
          if (i < count) {
            if (wait > 0 && i > 0) await Bun.sleep(wait)
            controller.enqueue(chunks[i++ % chunks.length]!)
            return
          }
          controller.enqueue(finish)
          if (body.stream_options?.include_usage) controller.enqueue(usageChunk)
          controller.enqueue(done)
          controller.close()
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    )
  },
})
console.log(server.port)
export {}
