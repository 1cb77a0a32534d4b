import { randomToken } from '../../lib/crypto.ts'

/**
 * Builders for answers in OpenAI's chat-completions shape, for adapters that speak `openai-chat`:
 * an adapter maps its upstream's own format onto these, and the gateway translates them to every
 * client protocol as for any provider.
 */

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

export interface ChatUsage {
  prompt_tokens: number
  completion_tokens: number
  /** Prompt tokens read from a cache, when the upstream says. */
  cached_tokens?: number
}

export interface ToolCallDelta {
  /** Which call of the answer (0, 1, ...); its id and name come with its first delta. */
  index: number
  id?: string
  name?: string
  /** A piece of the arguments' JSON text. */
  arguments?: string
}

/** One piece of a streamed answer; any fields may be combined. */
export interface ChatDelta {
  text?: string
  reasoning?: string
  toolCall?: ToolCallDelta
  finish?: FinishReason
  usage?: ChatUsage
}

export interface ChatAnswer {
  model: string
  text?: string
  reasoning?: string
  toolCalls?: { id?: string; name: string; arguments: string }[]
  finish?: FinishReason
  usage?: ChatUsage
}

const encoder = new TextEncoder()
const now = () => Math.floor(Date.now() / 1000)
const completionId = () => 'chatcmpl-' + randomToken(24)

function usageJson(u: ChatUsage) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    ...(u.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: u.cached_tokens } } : {}),
  }
}

/** A whole (non-streamed) chat completion. */
export function chatCompletion(answer: ChatAnswer): Response {
  const toolCalls = answer.toolCalls?.map((c) => ({ id: c.id ?? 'call_' + randomToken(24), type: 'function', function: { name: c.name, arguments: c.arguments } }))
  const message = {
    role: 'assistant',
    content: answer.text ?? (toolCalls?.length ? null : ''),
    ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}),
    ...(toolCalls?.length ? { tool_calls: toolCalls } : {}),
  }
  const body = {
    id: completionId(),
    object: 'chat.completion',
    created: now(),
    model: answer.model,
    choices: [{ index: 0, message, finish_reason: answer.finish ?? (toolCalls?.length ? 'tool_calls' : 'stop') }],
    ...(answer.usage ? { usage: usageJson(answer.usage) } : {}),
  }
  return Response.json(body)
}

/**
 * A streamed chat completion from the adapter's deltas: the role first, then each delta as a
 * chunk, the finish reason, usage (when given) and `[DONE]`. A source that throws ends the stream
 * with an error, which the gateway reports as the upstream's failure.
 */
export function chatStream(model: string, deltas: AsyncIterable<ChatDelta>): Response {
  const id = completionId()
  const created = now()
  const chunk = (delta: Record<string, unknown>, finish: FinishReason | null = null, extra: Record<string, unknown> = {}) =>
    encoder.encode(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`)
  const iterator = deltas[Symbol.asyncIterator]()
  let started = false
  let finish: FinishReason | null = null
  let usage: ChatUsage | null = null
  let toolSeen = false
  let done = false
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (done) return
      if (!started) {
        started = true
        controller.enqueue(chunk({ role: 'assistant', content: '' }))
        return
      }
      const next = await iterator.next()
      if (next.done) {
        done = true
        controller.enqueue(chunk({}, finish ?? (toolSeen ? 'tool_calls' : 'stop')))
        if (usage) controller.enqueue(encoder.encode(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageJson(usage) })}\n\n`))
        controller.enqueue(encoder.encode('data: [DONE]\n\n'))
        controller.close()
        return
      }
      const d = next.value
      if (d.finish) finish = d.finish
      if (d.usage) usage = d.usage
      const delta: Record<string, unknown> = {}
      if (d.text) delta.content = d.text
      if (d.reasoning) delta.reasoning_content = d.reasoning
      if (d.toolCall) {
        toolSeen = true
        const c = d.toolCall
        delta.tool_calls = [{ index: c.index, ...(c.id !== undefined || c.name !== undefined ? { id: c.id ?? 'call_' + randomToken(24), type: 'function' } : {}), function: { ...(c.name !== undefined ? { name: c.name } : {}), arguments: c.arguments ?? '' } }]
      }
      if (Object.keys(delta).length > 0) controller.enqueue(chunk(delta))
    },
    async cancel(reason) {
      done = true
      await iterator.return?.(reason)
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } })
}

/**
 * An error in OpenAI's shape with the status that means it: 401 the account is unusable, 429 it
 * rests (`retryAfterS`, or an exponential default), 5xx another account or provider is tried.
 * `scope: 'model'` on a 429 rests the account for this model only (a per-model quota).
 */
export function chatError(status: number, message: string, options: { type?: string; scope?: 'account' | 'model'; retryAfterS?: number } = {}): Response {
  const type = options.type ?? (status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : 'api_error')
  const headers: Record<string, string> = {}
  if (options.scope === 'model') headers['x-sluice-scope'] = 'model'
  if (options.retryAfterS !== undefined) headers['retry-after'] = String(options.retryAfterS)
  return Response.json({ error: { message, type, code: null } }, { status, headers })
}
