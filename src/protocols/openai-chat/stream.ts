import { sseEvent } from '../../lib/sse.ts'
import type * as ir from '../ir.ts'
import { flatToolName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions, StreamDecoder, StreamEncoder } from '../types.ts'
import { signedCallId } from '../signatures.ts'
import { CHAT, chatId } from './response.ts'
import { openaiTextParts } from './text-parts.ts'
import { CHAT_FINISH, chatUsage, chatUsageJson, FINISH_TO_CHAT } from './usage.ts'

type Json = ir.Json
type Kind = 'text' | 'reasoning' | 'refusal' | 'tool_call'

interface ToolState {
  id: string | undefined
  name: string
  kind: 'function' | 'custom'
  /** The part's index once it is open. */
  part: number | null
  /** Argument fragments that arrived before the call's name. */
  pending: string
}

export const INCOMPLETE = 'The upstream stream ended before the message was complete.'

/** chat.completion.chunk events as stream events. Parts open and close in order; a tool index reused with a new id is a new call. */
export class ChatStreamDecoder implements StreamDecoder {
  private started = false
  private next = 0
  private open: { kind: Kind; index: number } | null = null
  private tools = new Map<number, ToolState>()
  private finishReason: string | null = null
  private usage: ir.Usage | undefined
  private done = false

  constructor(_options?: DecodeOptions) {}

  private start(chunk: Json, out: ir.StreamEvent[]): void {
    if (this.started) return
    this.started = true
    // Azure's first chunk (its prompt filter results) has an empty model.
    out.push({ type: 'start', ...(chunk.id ? { id: String(chunk.id) } : {}), ...(chunk.model ? { model: String(chunk.model) } : {}) })
  }

  private close(out: ir.StreamEvent[]): void {
    if (!this.open) return
    out.push({ type: 'part_end', index: this.open.index })
    this.open = null
  }

  private ensure(kind: 'text' | 'reasoning' | 'refusal', out: ir.StreamEvent[]): number {
    if (this.open?.kind === kind) return this.open.index
    this.close(out)
    this.open = { kind, index: this.next++ }
    out.push({ type: 'part_start', index: this.open.index, part: kind })
    return this.open.index
  }

  private startTool(tool: ToolState, out: ir.StreamEvent[]): void {
    this.close(out)
    tool.part = this.next++
    this.open = { kind: 'tool_call', index: tool.part }
    out.push({ type: 'part_start', index: tool.part, part: 'tool_call', id: tool.id ?? `call_${tool.part}`, name: tool.name, kind: tool.kind })
    if (tool.pending) {
      out.push({ type: 'delta', index: tool.part, text: tool.pending })
      tool.pending = ''
    }
  }

  push(_name: string | null, data: string): ir.StreamEvent[] {
    if (this.done) return []
    if (data === '[DONE]') return this.finish()
    let chunk: Json
    try {
      chunk = JSON.parse(data)
    } catch {
      return []
    }
    const out: ir.StreamEvent[] = []
    if (chunk?.error) {
      this.done = true
      this.start({}, out)
      out.push({ type: 'error', kind: chunk.error.type ?? 'api_error', message: chunk.error.message ?? 'upstream error' })
      return out
    }
    // Azure's first chunk (its prompt filter results) has no id and no choices: the stream starts with the next.
    if (chunk?.id || (chunk?.choices?.length ?? 0) > 0 || chunk?.usage) this.start(chunk, out)
    const usage = chatUsage(chunk.usage)
    if (usage) {
      this.usage = usage
      out.push({ type: 'usage', usage })
    }
    const choice = chunk.choices?.[0]
    if (!choice) return out
    const d = choice.delta ?? {}
    const { reasoning, text, refusal } = openaiTextParts(d)
    if (reasoning) out.push({ type: 'delta', index: this.ensure('reasoning', out), text: reasoning })
    if (text) out.push({ type: 'delta', index: this.ensure('text', out), text })
    if (refusal) out.push({ type: 'delta', index: this.ensure('refusal', out), text: refusal })
    for (const call of (d.tool_calls ?? []) as Json[]) {
      const k = typeof call.index === 'number' ? call.index : 0
      let tool = this.tools.get(k)
      if (!tool || (call.id && tool.id && call.id !== tool.id)) {
        tool = { id: call.id, name: '', kind: call.type === 'custom' ? 'custom' : 'function', part: null, pending: '' }
        this.tools.set(k, tool)
      }
      if (call.id && !tool.id) tool.id = call.id
      const name = call.function?.name ?? call.custom?.name
      if (name) tool.name += name
      if (tool.part === null && tool.name) this.startTool(tool, out)
      const args = call.function?.arguments ?? call.custom?.input
      if (typeof args === 'string' && args) {
        if (tool.part === null) tool.pending += args
        else out.push({ type: 'delta', index: tool.part, text: args })
      }
    }
    // The finish chunk may carry the last argument fragment: handled above, before this.
    if (choice.finish_reason) this.finishReason = choice.finish_reason
    return out
  }

  private finish(): ir.StreamEvent[] {
    this.done = true
    const out: ir.StreamEvent[] = []
    this.start({}, out)
    // A call whose name never came still gets a part, so its arguments are not lost.
    for (const tool of this.tools.values()) if (tool.part === null) this.startTool(tool, out)
    this.close(out)
    const reason = (this.finishReason && CHAT_FINISH[this.finishReason]) || (this.tools.size > 0 ? 'tool_calls' : 'stop')
    out.push({ type: 'finish', reason, ...(this.finishReason ? { rawReason: this.finishReason } : {}), ...(this.usage ? { usage: this.usage } : {}) })
    return out
  }

  end(): ir.StreamEvent[] {
    if (this.done) return []
    // A stream that stopped after its finish_reason (without [DONE]) is complete; one that
    // stopped before it was cut off, and must not look like a normal end.
    if (this.finishReason) return this.finish()
    this.done = true
    const out: ir.StreamEvent[] = []
    this.start({}, out)
    out.push({ type: 'error', kind: 'stream_incomplete', message: INCOMPLETE })
    return out
  }
}

const line = (chunk: Json) => sseEvent(JSON.stringify(chunk))

/** Stream events as chat.completion.chunk events: a tool call's index counts tool calls only. */
export class ChatStreamEncoder implements StreamEncoder {
  private id = 'chatcmpl-stream'
  private model: string
  private readonly created = Math.floor(Date.now() / 1000)
  private parts = new Map<number, { kind: Kind; tool?: number; custom?: boolean; args?: boolean }>()
  private tools = 0
  private usage: Partial<ir.Usage> | undefined
  private started = false
  private done = false

  constructor(private readonly options: ReplyOptions) {
    this.model = options.model
  }

  private chunk(delta: Json, finish: string | null = null): string {
    return line({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, finish_reason: finish }] })
  }

  private begin(e?: Extract<ir.StreamEvent, { type: 'start' }>): string {
    if (this.started) return ''
    this.started = true
    if (e?.id) this.id = chatId(e.id)
    if (e?.model) this.model = e.model
    return this.chunk({ role: 'assistant', content: '' })
  }

  push(e: ir.StreamEvent): string {
    if (this.done) return ''
    if (e.type === 'start') return this.begin(e)
    let out = this.begin()
    switch (e.type) {
      case 'part_start':
        if (e.part === 'tool_call') {
          const k = this.tools++
          const custom = e.kind === 'custom'
          this.parts.set(e.index, { kind: 'tool_call', tool: k, custom })
          const call = custom
            ? { index: k, id: signedCallId(e.id, e.signature, CHAT), type: 'custom', custom: { name: e.name, input: '' } }
            : { index: k, id: signedCallId(e.id, e.signature, CHAT), type: 'function', function: { name: flatToolName(e.name, e.namespace), arguments: '' } }
          out += this.chunk({ tool_calls: [call] })
        } else this.parts.set(e.index, { kind: e.part })
        return out
      case 'delta': {
        const part = this.parts.get(e.index)
        if (!part || !e.text) return out
        if (part.kind === 'text') return out + this.chunk({ content: e.text })
        if (part.kind === 'reasoning') return out + this.chunk({ reasoning_content: e.text })
        if (part.kind === 'refusal') return out + this.chunk({ refusal: e.text })
        part.args = true
        const call = part.custom ? { index: part.tool, custom: { input: e.text } } : { index: part.tool, function: { arguments: e.text } }
        return out + this.chunk({ tool_calls: [call] })
      }
      case 'part_end': {
        const part = this.parts.get(e.index)
        // A call that sent no argument text gets `{}`: an empty string is not valid JSON.
        if (part?.kind === 'tool_call' && !part.args && !part.custom) out += this.chunk({ tool_calls: [{ index: part.tool, function: { arguments: '{}' } }] })
        return out
      }
      case 'usage':
        this.usage = { ...this.usage, ...e.usage }
        return out
      case 'finish': {
        this.done = true
        if (e.usage) this.usage = { ...this.usage, ...e.usage }
        out += this.chunk({}, FINISH_TO_CHAT[e.reason])
        if (this.options.state.wantsUsage === true && this.usage) {
          out += line({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: chatUsageJson(this.usage) })
        }
        return out + sseEvent('[DONE]')
      }
      case 'error':
        this.done = true
        return out + line({ error: { message: e.message, type: e.kind === 'stream_incomplete' ? 'api_error' : e.kind, param: null, code: e.kind === 'stream_incomplete' ? 'stream_incomplete' : null } })
      default:
        return out
    }
  }
}
