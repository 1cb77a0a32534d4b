// Mock upstreams for the adapter tests: services written for the tests, speaking what the examples expect.
const encoder = new TextEncoder()

/** A web chat service (written for the tests, not a real one): conversations first, then a chat whose SSE events repeat the text so far. */
export function startWebChat(tokens: { good: string[]; limited?: string[] } = { good: ['good-token-0001'] }) {
  const calls: { path: string; auth: string | null; referer: string | null; body: any }[] = []
  let conversations = 0
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const body: any = await req.json().catch(() => null)
      calls.push({ path: url.pathname, auth: req.headers.get('authorization'), referer: req.headers.get('referer'), body })
      const token = (req.headers.get('authorization') ?? '').replace('Bearer ', '')
      if (tokens.limited?.includes(token)) return Response.json({ detail: 'too many conversations' }, { status: 429, headers: { 'retry-after': '600' } })
      if (!tokens.good.includes(token)) return Response.json({ detail: 'token expired' }, { status: 401 })
      if (url.pathname === '/api/conversation') return Response.json({ id: `conv-${++conversations}` })
      const chat = /^\/api\/chat\/(conv-\d+)$/.exec(url.pathname)
      if (!chat) return new Response('no', { status: 404 })
      if (req.headers.get('referer') !== `${url.origin}/chat/${chat[1]}`) return new Response('bad referer', { status: 403 })
      const events = [{ message: { content: 'Hel' } }, { message: { content: `Hello in ${chat[1]}` } }, { message: { content: `Hello in ${chat[1]}` }, finish_reason: 'stop' }]
      const stream = new ReadableStream({
        async start(c) {
          for (const e of events) {
            c.enqueue(encoder.encode(`data: ${JSON.stringify(e)}\n\n`))
            await Bun.sleep(5)
          }
          c.enqueue(encoder.encode('data: [DONE]\n\n'))
          c.close()
        },
      })
      return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, calls, stop: () => server.stop(true) }
}

/**
 * An OAuth authorization server (device code, rotating refresh tokens) and the API behind it,
 * written for these tests: not a real service. Access tokens live `ttlS` seconds; each refresh
 * token works once.
 */
export function startOAuthService() {
  const state = {
    pending: new Map<string, { userCode: string; approved: boolean }>(),
    access: new Map<string, number>(),
    refresh: new Set<string>(),
    refreshCalls: 0,
    ttlS: 3600,
    failRefresh: null as null | 'invalid_grant' | 'server_error',
    served: [] as string[],
  }
  let n = 0
  const issue = () => {
    n++
    const access = `access-${n}-${crypto.randomUUID()}`
    const refresh = `refresh-${n}-${crypto.randomUUID()}`
    state.access.set(access, Date.now() + state.ttlS * 1000)
    state.refresh.add(refresh)
    return { access_token: access, refresh_token: refresh, expires_in: state.ttlS, token_type: 'Bearer' }
  }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const body: any = req.method === 'POST' ? await req.json().catch(() => ({})) : {}
      if (url.pathname === '/device/code') {
        const device = `dev-${++n}`
        const userCode = `CODE-${n}`
        state.pending.set(device, { userCode, approved: false })
        return Response.json({ device_code: device, user_code: userCode, verification_uri: `${url.origin}/activate`, interval: 0.05, expires_in: 30 })
      }
      if (url.pathname === '/approve') {
        for (const p of state.pending.values()) if (p.userCode === url.searchParams.get('user_code')) p.approved = true
        return new Response('ok')
      }
      if (url.pathname === '/token' && body.grant_type === 'urn:ietf:params:oauth:grant-type:device_code') {
        const p = state.pending.get(body.device_code)
        if (!p) return Response.json({ error: 'expired_token' }, { status: 400 })
        if (!p.approved) return Response.json({ error: 'authorization_pending' }, { status: 400 })
        state.pending.delete(body.device_code)
        return Response.json(issue())
      }
      if (url.pathname === '/authorize') {
        // The "browser" lands here, and is sent back to the loopback callback with a code.
        const code = `code-${++n}`
        state.pending.set(code, { userCode: url.searchParams.get('code_challenge')!, approved: true })
        return Response.redirect(`${url.searchParams.get('redirect_uri')}?code=${code}&state=${url.searchParams.get('state')}`, 302)
      }
      if (url.pathname === '/token' && body.grant_type === 'authorization_code') {
        const p = state.pending.get(body.code)
        const challenge = new Bun.CryptoHasher('sha256').update(body.code_verifier ?? '').digest('base64url')
        if (!p || p.userCode !== challenge) return Response.json({ error: 'invalid_grant' }, { status: 400 })
        state.pending.delete(body.code)
        return Response.json(issue())
      }
      if (url.pathname === '/token' && body.grant_type === 'refresh_token') {
        state.refreshCalls++
        await Bun.sleep(20)
        if (state.failRefresh === 'server_error') return Response.json({ error: 'temporarily_unavailable' }, { status: 503 })
        if (state.failRefresh === 'invalid_grant' || !state.refresh.delete(body.refresh_token)) return Response.json({ error: 'invalid_grant' }, { status: 400 })
        return Response.json(issue())
      }
      const token = (req.headers.get('authorization') ?? '').replace('Bearer ', '')
      if (!((state.access.get(token) ?? 0) > Date.now())) return Response.json({ error: 'invalid_token' }, { status: 401 })
      state.served.push(token)
      if (url.pathname === '/v1/quota') return Response.json({ remaining: 42, limit: 100 })
      if (url.pathname === '/v1/stream') {
        const events = `event: token\ndata: {"t":"Hi"}\n\nevent: token\ndata: {"t":" from OAuth"}\n\nevent: end\ndata: {"stop":"limit","in":4,"out":3}\n\n`
        return new Response(events, { headers: { 'content-type': 'text/event-stream' } })
      }
      return new Response('not found', { status: 404 })
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, state, stop: () => server.stop(true) }
}
