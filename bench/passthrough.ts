// The floor: a bare Bun reverse proxy. With --parse-events it also parses every SSE event of a
// stream (JSON.parse of each data line) while passing the bytes through. Prints its port.
const upstream = process.env.UPSTREAM!
const parseEvents = process.argv.includes('--parse-events')
const decoder = new TextDecoder()

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const url = new URL(req.url)
    const headers = new Headers(req.headers)
    headers.delete('host')
    // The body is read whole before it is sent, as sluice does. Streamed as it arrives, Bun sends
    // it chunked and opens a new upstream connection for about every other request.
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer()
    const res = await fetch(upstream + url.pathname + url.search, { method: req.method, headers, body, signal: req.signal, timeout: false } as RequestInit)
    if (!parseEvents || !res.body || !res.headers.get('content-type')?.includes('event-stream')) {
      return new Response(res.body, { status: res.status, headers: res.headers })
    }
    let pending = ''
    const parse = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true })
        const events = pending.split('\n\n')
        pending = events.pop()!
        for (const e of events) if (e.startsWith('data: {')) JSON.parse(e.slice(6))
        controller.enqueue(chunk)
      },
    })
    return new Response(res.body.pipeThrough(parse), { status: res.status, headers: res.headers })
  },
})
console.log(server.port)
export {}
