import type * as ir from './ir.ts'

/** A whole answer as the stream events it would have been, for clients that asked for a stream. */
export function responseToEvents(response: ir.Response): ir.StreamEvent[] {
  const events: ir.StreamEvent[] = [{ type: 'start', ...(response.id ? { id: response.id } : {}), ...(response.model ? { model: response.model } : {}) }]
  response.content.forEach((p, index) => {
    if (p.type === 'tool_call') {
      events.push({ type: 'part_start', index, part: 'tool_call', id: p.id, name: p.name, kind: p.kind, ...(p.namespace ? { namespace: p.namespace } : {}), ...(p.extra ? { extra: p.extra } : {}), ...(p.signature ? { signature: p.signature } : {}) })
      if (p.input) events.push({ type: 'delta', index, text: p.input })
    } else {
      events.push({ type: 'part_start', index, part: p.type })
      if (p.text) events.push({ type: 'delta', index, text: p.text })
      if (p.type === 'reasoning' && p.signature) events.push({ type: 'signature', index, signature: p.signature })
      if (p.type === 'text' && p.citations) for (const c of p.citations.items) events.push({ type: 'citation', index, origin: p.citations.origin, citation: c })
    }
    events.push({ type: 'part_end', index })
  })
  events.push({ type: 'finish', reason: response.finish, ...(response.rawFinish ? { rawReason: response.rawFinish } : {}), ...(response.usage ? { usage: response.usage } : {}) })
  return events
}

/** Stream events folded into one answer (a stream-only upstream for a client that wants JSON). */
export function eventsToResponse(events: Iterable<ir.StreamEvent>): ir.Response {
  const response: ir.Response = { id: '', model: '', content: [], finish: 'stop' }
  const parts = new Map<number, ir.AssistantPart>()
  for (const e of events) {
    switch (e.type) {
      case 'start':
        if (e.id) response.id = e.id
        if (e.model) response.model = e.model
        break
      case 'part_start': {
        const part: ir.AssistantPart = e.part === 'tool_call'
          ? { type: 'tool_call', id: e.id, name: e.name, input: '', kind: e.kind, ...(e.namespace ? { namespace: e.namespace } : {}), ...(e.extra ? { extra: e.extra } : {}), ...(e.signature ? { signature: e.signature } : {}) }
          : e.part === 'reasoning' ? { type: 'reasoning', text: '' } : { type: e.part, text: '' }
        parts.set(e.index, part)
        response.content.push(part)
        break
      }
      case 'delta': {
        const p = parts.get(e.index)
        if (p?.type === 'tool_call') p.input += e.text
        else if (p) p.text += e.text
        break
      }
      case 'signature': {
        const p = parts.get(e.index)
        if (p?.type === 'reasoning') p.signature = e.signature
        break
      }
      case 'usage':
        response.usage = { ...(response.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 }), ...e.usage }
        break
      case 'finish':
        response.finish = e.reason
        if (e.rawReason) response.rawFinish = e.rawReason
        if (e.usage) response.usage = { ...(response.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 }), ...e.usage }
        break
      case 'error':
        throw new Error(e.message)
    }
  }
  return response
}
