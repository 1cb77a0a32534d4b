import { sha256Hex } from '../../lib/crypto.ts'
import type { ChatDelta, FinishReason } from '../kit/chat-builders.ts'
import type { AdapterKit } from '../kit/index.ts'
import type { AdapterContext, AdapterModule, AdapterRequest } from '../module-api.ts'
import { renderBody, renderHeaders, renderUrl, type Values } from './render.ts'
import { FlowSchema, type Flow } from './schema.ts'


const DEFAULT_MAX_BYTES = 1024 * 1024
const ERROR_BYTES = 16 * 1024
const TOKEN_KEY = 'flow:token'

/** A step or token call that failed: its status decides what the pool does with the account. */
class StepFailed extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: string | null,
  ) {
    super(message)
  }
}

type Message = { role?: string; content?: unknown }
const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('') : ''

/**
 * The declarative layer, built on the adapter mechanism (one code path): a flow is an adapter
 * module whose options are the flow. It speaks openai-chat to the gateway.
 */
export function flowModule(kit: AdapterKit): AdapterModule {
  return {
    apiVersion: 1,
    protocol: 'openai-chat',
    options: FlowSchema,
    async handle(request, ctx) {
      const flow = ctx.options as unknown as Flow
      try {
        return await run(kit, flow, request, ctx, true)
      } catch (err) {
        if (err instanceof StepFailed) return failure(kit, err)
        throw err
      }
    },
  }
}

async function run(kit: AdapterKit, flow: Flow, request: AdapterRequest, ctx: AdapterContext, retryOn401: boolean): Promise<Response> {
  const messages = (Array.isArray(request.body.messages) ? request.body.messages : []) as Message[]
  const values: Values = {
    base_url: flow.base_url,
    model: request.model,
    credential: ctx.account.credentials.token,
    messages,
    prompt: messages.map((m) => `${m.role}: ${textOf(m.content)}`).join('\n'),
    last_user: textOf([...messages].reverse().find((m) => m.role === 'user')?.content),
    stream: flow.answer.format !== 'json',
  }
  if (flow.token) values.token = await token(kit, flow, values, ctx)
  for (const step of flow.before ?? []) {
    const cache = step.cache ?? 'none'
    const scope = cache === 'conversation' ? ':' + conversationKey(messages) : ''
    const key = `flow:step:${step.name}${scope}`
    let taken = cache === 'none' ? undefined : ((await ctx.kv.get(key)) as Values | undefined)
    if (!taken) {
      const answer = await callJson(kit, ctx, flow, step, values, `step ${step.name}`)
      taken = {}
      for (const [name, path] of Object.entries(step.take)) {
        const value = kit.path.read(answer, path)
        if (value === undefined || value === null) throw new StepFailed(502, `step ${step.name}: its answer has no ${path}`, null)
        taken[name] = value
      }
      if (cache !== 'none') await ctx.kv.set(key, taken as never, (step.ttl_s ?? 3600) * 1000)
    }
    Object.assign(values, taken)
  }
  const res = await send(ctx, flow, flow.request, values)
  if (res.status === 401 && retryOn401 && flow.token) {
    // The cached token was refused: a fresh one, once.
    res.body?.cancel().catch(() => {})
    await ctx.kv.delete(TOKEN_KEY)
    return run(kit, flow, request, ctx, false)
  }
  if (!res.ok) throw new StepFailed(res.status, `the chat request: ${(await kit.read.text(res, ERROR_BYTES)).slice(0, 300)}`, res.headers.get('retry-after'))
  const deltas = answerDeltas(kit, flow, res)
  if (request.stream) return kit.chat.stream(request.model, deltas)
  let text = ''
  let finish: FinishReason | undefined
  let usage: ChatDelta['usage']
  for await (const d of deltas) {
    if (d.text) text += d.text
    if (d.finish) finish = d.finish
    if (d.usage) usage = d.usage
  }
  return kit.chat.completion({ model: request.model, text, finish, usage })
}

/** The short-lived token of this account: cached until shortly before it expires, fetched by one request at a time. */
async function token(kit: AdapterKit, flow: Flow, values: Values, ctx: AdapterContext): Promise<string> {
  const cached = await ctx.kv.get(TOKEN_KEY)
  if (typeof cached === 'string') return cached
  return ctx.lock('token', async () => {
    const again = await ctx.kv.get(TOKEN_KEY)
    if (typeof again === 'string') return again
    const spec = flow.token!
    const answer = await callJson(kit, ctx, flow, spec, values, 'token')
    const value = kit.path.read(answer, spec.value)
    if (typeof value !== 'string' || value === '') throw new StepFailed(502, `token: its answer has no ${spec.value}`, null)
    const lifetime = spec.expires_in ? Number(kit.path.read(answer, spec.expires_in)) : (spec.ttl_s ?? 3600)
    const ttl = (Number.isFinite(lifetime) && lifetime > 0 ? lifetime : (spec.ttl_s ?? 3600)) - (spec.refresh_before_s ?? 60)
    ctx.log.secret(value)
    const rotated = spec.rotate ? kit.path.read(answer, spec.rotate) : undefined
    if (typeof rotated === 'string' && rotated !== '' && rotated !== ctx.account.credentials.token) {
      // The old credential is spent: the new one is stored before anything else can fail.
      ctx.log.secret(rotated)
      await ctx.account.save({ ...ctx.account.credentials, token: rotated })
    }
    if (ttl > 0) await ctx.kv.set(TOKEN_KEY, value, ttl * 1000)
    return value
  })
}

/**
 * A conversation is known by how it began: the system messages and the first user message, which
 * every later turn repeats. Two conversations that begin alike share an upstream conversation.
 */
function conversationKey(messages: readonly Message[]): string {
  const first = messages.findIndex((m) => m.role === 'user')
  const opening = messages.slice(0, first + 1).filter((m) => m.role === 'system' || m.role === 'developer' || m.role === 'user')
  return sha256Hex(JSON.stringify(opening.map((m) => [m.role, textOf(m.content)]))).slice(0, 32)
}

type CallSpec = { url: string; method?: string; headers?: Record<string, string>; body?: unknown }

/** One call; the flow's common headers go with every call but the token's own (they may need the token). */
function send(ctx: AdapterContext, flow: Flow, spec: CallSpec, values: Values, common = true): Promise<Response> {
  const method = spec.method ?? (spec.body === undefined ? 'GET' : 'POST')
  const headers = { ...(common ? renderHeaders(flow.headers, values) : {}), ...renderHeaders(spec.headers, values) }
  let body: string | undefined
  if (spec.body !== undefined) {
    body = JSON.stringify(renderBody(spec.body, values))
    headers['content-type'] ??= 'application/json'
  }
  return ctx.fetch(renderUrl(spec.url, values), { method, headers, body })
}

async function callJson(kit: AdapterKit, ctx: AdapterContext, flow: Flow, spec: CallSpec, values: Values, what: string): Promise<unknown> {
  const res = await send(ctx, flow, spec, values, what !== 'token')
  if (!res.ok) throw new StepFailed(res.status, `${what}: ${(await kit.read.text(res, ERROR_BYTES)).slice(0, 300)}`, res.headers.get('retry-after'))
  return kit.read.json(res, flow.answer.max_bytes ?? DEFAULT_MAX_BYTES)
}

/** The upstream's answer as chat deltas, by the paths the flow names. */
async function* answerDeltas(kit: AdapterKit, flow: Flow, res: Response): AsyncGenerator<ChatDelta> {
  const a = flow.answer
  const max = a.max_bytes ?? DEFAULT_MAX_BYTES
  let sofar = ''
  const delta = (event: unknown): ChatDelta => {
    const d: ChatDelta = {}
    const text = kit.path.read(event, a.text)
    if (typeof text === 'string' && text !== '') {
      if (a.text_mode === 'cumulative') {
        // Each event repeats the text so far: only what is new is sent on.
        if (text.startsWith(sofar)) d.text = text.slice(sofar.length)
        else d.text = text
        sofar = text
      } else d.text = text
      if (d.text === '') delete d.text
    }
    const finish = a.finish ? kit.path.read(event, a.finish) : undefined
    if (typeof finish === 'string' && finish !== '') d.finish = (a.finish_map?.[finish] as FinishReason | undefined) ?? (['stop', 'length', 'tool_calls', 'content_filter'].includes(finish) ? (finish as FinishReason) : 'stop')
    const prompt = a.prompt_tokens ? kit.path.read(event, a.prompt_tokens) : undefined
    const completion = a.completion_tokens ? kit.path.read(event, a.completion_tokens) : undefined
    if (typeof prompt === 'number' || typeof completion === 'number') d.usage = { prompt_tokens: Number(prompt ?? 0), completion_tokens: Number(completion ?? 0) }
    return d
  }
  if (a.format === 'json') {
    yield delta(await kit.read.json(res, max))
    return
  }
  if (!res.body) return
  if (a.format === 'ndjson') {
    for await (const line of kit.ndjson.decode(res.body, { maxLineBytes: max })) yield delta(line)
    return
  }
  for await (const event of kit.sse.decode(res.body, { maxEventBytes: max })) {
    if (event.data === (a.done ?? '[DONE]')) return
    let parsed: unknown
    try {
      parsed = JSON.parse(event.data)
    } catch {
      continue
    }
    yield delta(parsed)
  }
}

/** A failed step in OpenAI's error shape with its status: 401/403 and 429 are the account's, the rest the upstream's. */
function failure(kit: AdapterKit, err: StepFailed): Response {
  const status = err.status === 403 ? 401 : err.status
  const res = kit.chat.error(status >= 400 ? status : 502, err.message)
  if (err.retryAfter) res.headers.set('retry-after', err.retryAfter)
  return res
}
