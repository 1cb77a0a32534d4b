// An adapter for an upstream that needs an OAuth login, not a static key:
// - `sluice accounts login NAME` runs the device-code flow (RFC 8628): it prints where to go and
//   the code to enter, then waits for the person to approve;
// - access tokens are refreshed ahead of expiry with the refresh token, which the server rotates
//   (each refresh returns a new one; the old one stops working), and sluice saves the new
//   credentials, sealed, before they are used;
// - a refresh refused with invalid_grant disables the account with the reason;
// - answers come as a non-OpenAI SSE stream (`event: token` / `event: end`), mapped to chat deltas;
// - a quota probe, shown by `sluice accounts test` and in the admin API.
//
// Config:
//   providers:
//     - name: oauth
//       type: module
//       path: ./examples/adapters/device-code-oauth.ts
//       options: { auth_url: https://auth.example.com, api_url: https://api.example.com, client_id: sluice }
//       models: [oauth-large]
//       keys: []

export default (sluice) => {
  const form = (fields) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) })
  const credentialsFrom = (token, ctx) => ({
    access_token: token.access_token,
    refresh_token: token.refresh_token,
    expires_at: ctx.now() + token.expires_in * 1000,
  })

  return {
    apiVersion: 1,
    protocol: 'openai-chat',
    options: sluice.t.Object({
      auth_url: sluice.t.String({ pattern: '^https?://' }),
      api_url: sluice.t.String({ pattern: '^https?://' }),
      client_id: sluice.t.String({ minLength: 1 }),
    }),

    async login(ctx) {
      const { auth_url, client_id } = ctx.options
      const start = await sluice.read.json(await ctx.fetch(`${auth_url}/device/code`, form({ client_id })), 64 * 1024)
      ctx.say(`Open ${start.verification_uri} and enter the code ${start.user_code}`)
      const deadline = ctx.now() + start.expires_in * 1000
      let interval = (start.interval ?? 5) * 1000
      while (ctx.now() < deadline) {
        await ctx.sleep(interval)
        const res = await ctx.fetch(`${auth_url}/token`, form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: start.device_code, client_id }))
        const body = await sluice.read.json(res, 64 * 1024)
        if (res.ok) return { credentials: credentialsFrom(body, ctx) }
        if (body.error === 'slow_down') interval += 5000
        else if (body.error !== 'authorization_pending') throw new sluice.AccountError(`login refused: ${body.error}`, { permanent: true })
      }
      throw new sluice.AccountError('the code expired before it was approved')
    },

    async refresh(account, ctx) {
      const res = await ctx.fetch(`${ctx.options.auth_url}/token`, form({ grant_type: 'refresh_token', refresh_token: account.credentials.refresh_token, client_id: ctx.options.client_id }))
      const body = await sluice.read.json(res, 64 * 1024).catch(() => ({}))
      if (res.ok) return credentialsFrom(body, ctx)
      // invalid_grant: the refresh token is revoked or was already used; only a new login helps.
      throw new sluice.AccountError(`refresh refused: ${body.error ?? res.status}`, { permanent: body.error === 'invalid_grant' })
    },

    async quota(ctx) {
      const res = await ctx.fetch(`${ctx.options.api_url}/v1/quota`, { headers: { authorization: `Bearer ${ctx.account.credentials.access_token}` } })
      return sluice.read.json(res, 64 * 1024)
    },

    async handle(request, ctx) {
      const res = await ctx.fetch(`${ctx.options.api_url}/v1/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ctx.account.credentials.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: request.model, input: request.body.messages }),
      })
      if (!res.ok) return sluice.chat.error(res.status, `upstream said ${res.status}`)
      async function* deltas() {
        for await (const event of sluice.sse.decode(res.body, { maxEventBytes: 1024 * 1024 })) {
          const data = JSON.parse(event.data)
          if (event.event === 'token') yield { text: data.t }
          if (event.event === 'end') yield { finish: data.stop === 'limit' ? 'length' : 'stop', usage: { prompt_tokens: data.in, completion_tokens: data.out } }
        }
      }
      if (request.stream) return sluice.chat.stream(request.model, deltas())
      let text = ''
      let end = {}
      for await (const d of deltas()) d.text ? (text += d.text) : (end = d)
      return sluice.chat.completion({ model: request.model, text, ...end })
    },
  }
}
