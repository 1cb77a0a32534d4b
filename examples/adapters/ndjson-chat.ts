// An adapter for an upstream that is not OpenAI-compatible: it takes `{ model, prompt, stream }`
// at POST {base_url}/generate with `Authorization: Token <token>`, and streams NDJSON lines:
//   {"type":"text","text":"Hel"}
//   {"type":"done","reason":"max_tokens","usage":{"input":12,"output":7}}
// It speaks `openai-chat` to sluice, so every client protocol (OpenAI, Anthropic, Gemini, the
// Responses API) works in front of it. A module file imports nothing: all it uses is the kit
// (`sluice`) given to its default export, and the context given to each call.
//
// Config:
//   providers:
//     - name: ndjson
//       type: module
//       path: ./examples/adapters/ndjson-chat.ts
//       options: { base_url: https://generate.example.com }
//       models: [ndjson-small]
//       keys: [${NDJSON_TOKEN}]

const FINISH = { end: 'stop', max_tokens: 'length', filtered: 'content_filter' }

export default (sluice) => ({
  apiVersion: 1,
  protocol: 'openai-chat',
  options: sluice.t.Object({ base_url: sluice.t.String({ pattern: '^https?://' }) }, { additionalProperties: false }),

  async handle(request, ctx) {
    // The chat messages as one prompt: this upstream has no roles.
    const prompt = request.body.messages
      .map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join('')}`)
      .join('\n')
    const res = await ctx.fetch(`${ctx.options.base_url}/generate`, {
      method: 'POST',
      headers: { authorization: `Token ${ctx.account.credentials.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: request.model, prompt, stream: true }),
    })
    // Its errors in OpenAI's shape with the same status: 401 cools the account, 429 waits, 5xx retries elsewhere.
    if (!res.ok) {
      const text = await sluice.read.text(res, 64 * 1024)
      return sluice.chat.error(res.status, `upstream said: ${text.slice(0, 200)}`)
    }
    const deltas = async function* () {
      for await (const line of sluice.ndjson.decode(res.body, { maxLineBytes: 1024 * 1024 })) {
        if (line.type === 'text') yield { text: line.text }
        else if (line.type === 'done') yield { finish: FINISH[line.reason] ?? 'stop', usage: { prompt_tokens: line.usage.input, completion_tokens: line.usage.output } }
      }
    }
    if (request.stream) return sluice.chat.stream(request.model, deltas())
    // A client that wants one answer gets the stream folded.
    let text = ''
    let last = {}
    for await (const d of deltas()) {
      if (d.text) text += d.text
      else last = d
    }
    return sluice.chat.completion({ model: request.model, text, finish: last.finish, usage: last.usage })
  },
})
