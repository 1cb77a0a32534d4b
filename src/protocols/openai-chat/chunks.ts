import { eventData, SseFramer, sseEvent } from '../../lib/sse.ts'

type Json = Record<string, any>

const encoder = new TextEncoder()

/**
 * A whole chat completion replayed as a stream (fake_stream): role, content, reasoning and tool
 * calls as chunks, then the finish chunk, the usage chunk if asked for, and `[DONE]`.
 */
export function completionToSse(completion: Json, includeUsage: boolean): Uint8Array {
  const base = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model }
  const events: Json[] = []
  for (const choice of completion.choices ?? []) {
    const index = choice.index ?? 0
    const message = choice.message ?? {}
    const chunk = (delta: Json, finish: string | null = null) => ({ ...base, choices: [{ index, delta, finish_reason: finish }] })
    events.push(chunk({ role: message.role ?? 'assistant', content: '' }))
    // Whatever dialect carries the reasoning (DeepSeek's reasoning_content, Groq's reasoning), the replay says it as reasoning_content.
    const reasoning = typeof message.reasoning_content === 'string' ? message.reasoning_content : typeof message.reasoning === 'string' ? message.reasoning : ''
    if (reasoning) events.push(chunk({ reasoning_content: reasoning }))
    if (message.content) events.push(chunk({ content: message.content }))
    if (message.refusal) events.push(chunk({ refusal: message.refusal }))
    if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      events.push(
        chunk({
          tool_calls: message.tool_calls.map((call: Json, i: number) => ({
            index: i,
            id: call.id,
            type: call.type ?? 'function',
            function: { name: call.function?.name, arguments: call.function?.arguments ?? '' },
          })),
        }),
      )
    }
    events.push(chunk({}, choice.finish_reason ?? 'stop'))
  }
  if (includeUsage && completion.usage) events.push({ ...base, choices: [], usage: completion.usage })
  const text = events.map((e) => sseEvent(JSON.stringify(e))).join('') + sseEvent('[DONE]')
  return encoder.encode(text)
}

interface ChoiceAcc {
  index: number
  role: string
  content: string | null
  reasoning: string | null
  refusal: string | null
  toolCalls: Map<number, { id?: string; type: string; name: string; arguments: string }>
  finish: string | null
}

/** A whole SSE chat stream folded into one chat completion (for stream-only upstreams). */
export function sseToCompletion(bytes: Uint8Array): Json {
  const framer = new SseFramer()
  const events = framer.push(bytes)
  const rest = framer.rest()
  if (rest) events.push(rest)
  const choices = new Map<number, ChoiceAcc>()
  let head: Json = {}
  let usage: Json | undefined
  for (const event of events) {
    const data = eventData(event)
    if (data === null || data === '[DONE]') continue
    let chunk: Json
    try {
      chunk = JSON.parse(data)
    } catch {
      continue
    }
    if (chunk.error) throw Object.assign(new Error(chunk.error.message ?? 'upstream stream error'), { upstreamError: chunk.error })
    if (!head.id) head = { id: chunk.id, created: chunk.created, model: chunk.model, system_fingerprint: chunk.system_fingerprint }
    if (chunk.usage) usage = chunk.usage
    for (const c of chunk.choices ?? []) {
      const index = c.index ?? 0
      let acc = choices.get(index)
      if (!acc) {
        acc = { index, role: 'assistant', content: null, reasoning: null, refusal: null, toolCalls: new Map(), finish: null }
        choices.set(index, acc)
      }
      const d = c.delta ?? {}
      if (d.role) acc.role = d.role
      if (typeof d.content === 'string') acc.content = (acc.content ?? '') + d.content
      if (typeof d.reasoning_content === 'string') acc.reasoning = (acc.reasoning ?? '') + d.reasoning_content
      if (typeof d.refusal === 'string') acc.refusal = (acc.refusal ?? '') + d.refusal
      for (const t of d.tool_calls ?? []) {
        const at = t.index ?? 0
        const call = acc.toolCalls.get(at) ?? { type: 'function', name: '', arguments: '' }
        if (t.id) call.id = t.id
        if (t.function?.name) call.name += t.function.name
        if (t.function?.arguments) call.arguments += t.function.arguments
        acc.toolCalls.set(at, call)
      }
      if (c.finish_reason) acc.finish = c.finish_reason
    }
  }
  return {
    id: head.id,
    object: 'chat.completion',
    created: head.created,
    model: head.model,
    ...(head.system_fingerprint ? { system_fingerprint: head.system_fingerprint } : {}),
    choices: [...choices.values()]
      .sort((a, b) => a.index - b.index)
      .map((acc) => ({
        index: acc.index,
        message: {
          role: acc.role,
          content: acc.content,
          refusal: acc.refusal,
          ...(acc.reasoning !== null ? { reasoning_content: acc.reasoning } : {}),
          ...(acc.toolCalls.size > 0
            ? {
                tool_calls: [...acc.toolCalls.entries()]
                  .sort(([a], [b]) => a - b)
                  .map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.arguments } })),
              }
            : {}),
        },
        finish_reason: acc.finish,
        logprobs: null,
      })),
    ...(usage ? { usage } : {}),
  }
}
