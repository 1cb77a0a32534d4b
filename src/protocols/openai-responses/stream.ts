import { sseEvent } from '../../lib/sse.ts'
import type * as ir from '../ir.ts'
import { customInput } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions, StreamDecoder, StreamEncoder } from '../types.ts'
import { callItem, encryptedFor, finishOf, itemId, outcomeFields, reasoningFromItem } from './response.ts'
import { responsesUsage, responsesUsageJson } from './usage.ts'

type Json = ir.Json

export const INCOMPLETE = 'The upstream stream ended before the response was complete.'

/**
 * Items are found by their place in the output, not by id: some upstreams (GitHub Copilot) give
 * every event of one item a new id. The id is the fallback where a place is missing.
 */
const itemKey = (e: Json, id: unknown) => (typeof e.output_index === 'number' ? `out${e.output_index}` : `id${String(id)}`)
const partKey = (e: Json) => `${itemKey(e, e.item_id)}:${e.content_index ?? 0}`

/**
 * Responses events as stream events: each message content part, reasoning item and tool call is
 * one part. Tool calls are taken from their items (`output_item.done` has the whole arguments).
 */
export class ResponsesStreamDecoder implements StreamDecoder {
  private next = 0
  /** Part index by item id (calls, reasoning) or by `item_id:content_index` (message parts). */
  private parts = new Map<string, { index: number; kind: string; text: boolean; summaries: number }>()
  private content: ir.AssistantPart[] = []
  private done = false
  private started = false

  constructor(private readonly options: DecodeOptions) {}

  private open(key: string, kind: string, out: ir.StreamEvent[], start: ir.StreamEvent | null): number {
    const index = this.next++
    this.parts.set(key, { index, kind, text: false, summaries: 0 })
    if (start) out.push({ ...start, index } as ir.StreamEvent)
    return index
  }

  push(name: string | null, data: string): ir.StreamEvent[] {
    if (this.done) return []
    let e: Json
    try {
      e = JSON.parse(data)
    } catch {
      return []
    }
    const type = e?.type ?? name
    const out: ir.StreamEvent[] = []
    const startOnce = (response: Json | undefined) => {
      if (this.started) return
      this.started = true
      out.push({ type: 'start', ...(response?.id ? { id: String(response.id) } : {}), ...(response?.model ? { model: String(response.model) } : {}) })
    }
    switch (type) {
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued':
        startOnce(e.response)
        return out
      case 'response.output_item.added': {
        startOnce(undefined)
        const item = e.item ?? {}
        const key = itemKey(e, item.id)
        if (item.type === 'reasoning') this.open(key, 'reasoning', out, { type: 'part_start', index: 0, part: 'reasoning' })
        else if (item.type === 'function_call' || item.type === 'custom_tool_call') {
          const custom = item.type === 'custom_tool_call'
          this.open(key, 'tool_call', out, {
            type: 'part_start', index: 0, part: 'tool_call', id: String(item.call_id ?? key), name: String(item.name ?? ''), kind: custom ? 'custom' : 'function',
            ...(item.namespace ? { namespace: String(item.namespace) } : {}),
          })
        }
        return out
      }
      case 'response.content_part.added': {
        // Only a message's parts are text; a reasoning item's raw parts belong to its reasoning part.
        if (e.part?.type !== 'output_text' && e.part?.type !== 'refusal') return out
        const kind = e.part.type === 'refusal' ? 'refusal' : 'text'
        this.open(partKey(e), kind, out, { type: 'part_start', index: 0, part: kind })
        return out
      }
      case 'response.output_text.delta':
      case 'response.refusal.delta': {
        const p = this.parts.get(partKey(e))
        if (p && e.delta) out.push({ type: 'delta', index: p.index, text: String(e.delta) })
        return out
      }
      case 'response.content_part.done': {
        const p = this.parts.get(partKey(e))
        if (p) {
          const text = e.part?.type === 'refusal' ? e.part.refusal : e.part?.text
          this.content.push({ type: p.kind === 'refusal' ? 'refusal' : 'text', text: String(text ?? '') })
          out.push({ type: 'part_end', index: p.index })
        }
        return out
      }
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta': {
        const p = this.parts.get(itemKey(e, e.item_id))
        if (!p || !e.delta) return out
        // Summary parts after the first are separated as they are when the item is read whole.
        const index = typeof e.summary_index === 'number' ? e.summary_index : 0
        const sep = type === 'response.reasoning_summary_text.delta' && index >= p.summaries && p.text ? '\n\n' : ''
        if (type === 'response.reasoning_summary_text.delta') p.summaries = Math.max(p.summaries, index + 1)
        p.text = true
        out.push({ type: 'delta', index: p.index, text: sep + String(e.delta) })
        return out
      }
      case 'response.function_call_arguments.delta':
      case 'response.custom_tool_call_input.delta': {
        const p = this.parts.get(itemKey(e, e.item_id))
        if (p && e.delta) {
          p.text = true
          out.push({ type: 'delta', index: p.index, text: String(e.delta) })
        }
        return out
      }
      case 'response.output_item.done': {
        const item = e.item ?? {}
        const p = this.parts.get(itemKey(e, item.id))
        if (!p) return out
        if (item.type === 'reasoning') {
          const part = reasoningFromItem(item, this.options.provider)
          if (!p.text && part.text) out.push({ type: 'delta', index: p.index, text: part.text })
          if (part.signature) out.push({ type: 'signature', index: p.index, signature: part.signature })
          this.content.push(part)
        } else if (p.kind === 'tool_call') {
          const input = String((item.type === 'custom_tool_call' ? item.input : item.arguments) ?? '')
          // The whole arguments are here: sent as one delta when none came before.
          if (!p.text && input) out.push({ type: 'delta', index: p.index, text: input })
          this.content.push({ type: 'tool_call', id: String(item.call_id ?? ''), name: String(item.name ?? ''), input, kind: item.type === 'custom_tool_call' ? 'custom' : 'function' })
        }
        out.push({ type: 'part_end', index: p.index })
        return out
      }
      case 'response.completed':
      case 'response.incomplete': {
        this.done = true
        startOnce(e.response)
        const r = e.response ?? {}
        const usage = responsesUsage(r.usage)
        out.push({ type: 'finish', reason: finishOf(r.status ?? (type === 'response.incomplete' ? 'incomplete' : 'completed'), r.incomplete_details?.reason, this.content), ...(usage ? { usage } : {}) })
        return out
      }
      case 'response.failed': {
        this.done = true
        startOnce(e.response)
        const err = e.response?.error ?? {}
        out.push({ type: 'error', kind: String(err.code ?? 'server_error'), message: String(err.message ?? 'The upstream response failed.') })
        return out
      }
      case 'error': {
        this.done = true
        startOnce(undefined)
        out.push({ type: 'error', kind: String(e.code ?? e.error?.code ?? 'server_error'), message: String(e.message ?? e.error?.message ?? 'upstream error') })
        return out
      }
      default:
        return out
    }
  }

  end(): ir.StreamEvent[] {
    if (this.done) return []
    this.done = true
    return [{ type: 'error', kind: 'stream_incomplete', message: INCOMPLETE }]
  }
}

interface OpenItem {
  kind: 'message' | 'reasoning' | 'tool_call'
  outputIndex: number
  item: Json
  /** Accumulated text (message part, reasoning summary, arguments or input). */
  text: string
  custom?: boolean
}

/**
 * Stream events as the Responses event sequence the SDKs and Codex parse: `response.created`,
 * `response.in_progress`, then per item `output_item.added` .. deltas .. `output_item.done`, and
 * one terminal event (`completed`, `incomplete` or `failed`) carrying the whole output.
 * `sequence_number` counts every event from 0.
 */
export class ResponsesStreamEncoder implements StreamEncoder {
  private seq = 0
  private started = false
  private done = false
  private output: Json[] = []
  private items = new Map<number, OpenItem>()
  private usage: Partial<ir.Usage> | undefined
  private readonly createdAt = Math.floor(Date.now() / 1000)

  constructor(private readonly options: ReplyOptions) {}

  private event(type: string, data: Json): string {
    return sseEvent(JSON.stringify({ type, sequence_number: this.seq++, ...data }), type)
  }

  private snapshot(fields: Json): Json {
    return {
      id: this.options.responseId,
      object: 'response',
      created_at: this.createdAt,
      model: this.options.model,
      output: this.output,
      ...fields,
      ...this.options.state,
    }
  }

  private begin(): string {
    if (this.started) return ''
    this.started = true
    const inProgress = { status: 'in_progress', incomplete_details: null, error: null, usage: null }
    return this.event('response.created', { response: this.snapshot({ ...inProgress, output: [] }) }) +
      this.event('response.in_progress', { response: this.snapshot({ ...inProgress, output: [] }) })
  }

  private get tools(): readonly ir.Tool[] {
    return this.options.request?.tools ?? []
  }

  private add(index: number, open: OpenItem): string {
    this.items.set(index, open)
    this.output.push(open.item)
    return this.event('response.output_item.added', { output_index: open.outputIndex, item: { ...open.item } })
  }

  private startPart(e: Extract<ir.StreamEvent, { type: 'part_start' }>): string {
    const outputIndex = this.output.length
    if (e.part === 'text' || e.part === 'refusal') {
      const item = { id: itemId('msg', this.options.responseId, outputIndex), type: 'message', status: 'in_progress', role: 'assistant', content: [] as Json[] }
      const part = e.part === 'text' ? { type: 'output_text', text: '', annotations: [], logprobs: [] } : { type: 'refusal', refusal: '' }
      let out = this.add(e.index, { kind: 'message', outputIndex, item, text: '' })
      out += this.event('response.content_part.added', { item_id: item.id, output_index: outputIndex, content_index: 0, part })
      return out
    }
    if (e.part === 'reasoning') {
      const item = { id: itemId('rs', this.options.responseId, outputIndex), type: 'reasoning', summary: [] as Json[] }
      let out = this.add(e.index, { kind: 'reasoning', outputIndex, item, text: '' })
      out += this.event('response.reasoning_summary_part.added', { item_id: item.id, output_index: outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } })
      return out
    }
    if (e.part !== 'tool_call') return ''
    const call = callItem({ type: 'tool_call', id: e.id, name: e.name, input: '', kind: e.kind, ...(e.namespace ? { namespace: e.namespace } : {}), ...(e.signature ? { signature: e.signature } : {}) }, this.tools, '', 'in_progress')
    const custom = call.type === 'custom_tool_call'
    call.id = itemId(custom ? 'ctc' : 'fc', this.options.responseId, outputIndex)
    // Opened empty: the SDKs append every delta to what the added item holds.
    if (custom) call.input = ''
    else call.arguments = ''
    return this.add(e.index, { kind: 'tool_call', outputIndex, item: call, text: '', custom })
  }

  private delta(open: OpenItem, text: string): string {
    open.text += text
    const ids = { item_id: open.item.id, output_index: open.outputIndex }
    if (open.kind === 'message') {
      return this.isRefusal(open)
        ? this.event('response.refusal.delta', { ...ids, content_index: 0, delta: text })
        : this.event('response.output_text.delta', { ...ids, content_index: 0, delta: text, logprobs: [] })
    }
    if (open.kind === 'reasoning') return this.event('response.reasoning_summary_text.delta', { ...ids, summary_index: 0, delta: text })
    // A freeform tool's input is wrapped in JSON by function-only upstreams: sent whole at the end.
    if (open.custom) return ''
    return this.event('response.function_call_arguments.delta', { ...ids, delta: text })
  }

  private refusals = new Set<OpenItem>()
  private isRefusal(open: OpenItem): boolean {
    return this.refusals.has(open)
  }

  private finishItem(index: number): string {
    const open = this.items.get(index)
    if (!open) return ''
    this.items.delete(index)
    const ids = { item_id: open.item.id, output_index: open.outputIndex }
    let out = ''
    const item = open.item
    if (open.kind === 'message') {
      const refusal = this.isRefusal(open)
      const part = refusal ? { type: 'refusal', refusal: open.text } : { type: 'output_text', text: open.text, annotations: [], logprobs: [] }
      out += refusal
        ? this.event('response.refusal.done', { ...ids, content_index: 0, refusal: open.text })
        : this.event('response.output_text.done', { ...ids, content_index: 0, text: open.text, logprobs: [] })
      out += this.event('response.content_part.done', { ...ids, content_index: 0, part })
      item.content = [part]
      item.status = 'completed'
    } else if (open.kind === 'reasoning') {
      const part = { type: 'summary_text', text: open.text }
      out += this.event('response.reasoning_summary_text.done', { ...ids, summary_index: 0, text: open.text })
      out += this.event('response.reasoning_summary_part.done', { ...ids, summary_index: 0, part })
      item.summary = open.text ? [part] : []
    } else if (open.custom) {
      const input = customInput(open.text)
      if (input) out += this.event('response.custom_tool_call_input.delta', { ...ids, delta: input })
      out += this.event('response.custom_tool_call_input.done', { ...ids, input })
      item.input = input
      item.status = 'completed'
    } else {
      const args = open.text.trim() ? open.text : '{}'
      out += this.event('response.function_call_arguments.done', { ...ids, name: item.name, arguments: args })
      item.arguments = args
      item.status = 'completed'
    }
    return out + this.event('response.output_item.done', { output_index: open.outputIndex, item })
  }

  private closeAll(): string {
    let out = ''
    for (const index of [...this.items.keys()]) out += this.finishItem(index)
    return out
  }

  push(e: ir.StreamEvent): string {
    if (this.done) return ''
    let out = this.begin()
    switch (e.type) {
      case 'start':
        return out
      case 'part_start': {
        const s = this.startPart(e)
        if (e.part === 'refusal') this.refusals.add(this.items.get(e.index)!)
        return out + s
      }
      case 'delta': {
        const open = this.items.get(e.index)
        return open && e.text ? out + this.delta(open, e.text) : out
      }
      case 'signature': {
        const open = this.items.get(e.index)
        if (open?.kind === 'reasoning' && this.options.request?.includeEncryptedReasoning) open.item.encrypted_content = encryptedFor(e.signature)
        return out
      }
      case 'part_end':
        return out + this.finishItem(e.index)
      case 'usage':
        this.usage = { ...this.usage, ...e.usage }
        return out
      case 'finish': {
        this.done = true
        if (e.usage) this.usage = { ...this.usage, ...e.usage }
        out += this.closeAll()
        const outcome = outcomeFields(e.reason)
        const type = outcome.status === 'incomplete' ? 'response.incomplete' : 'response.completed'
        const response = this.snapshot({ ...outcome, usage: responsesUsageJson(this.usage) })
        this.options.onAnswer?.(response)
        return out + this.event(type, { response })
      }
      case 'error': {
        this.done = true
        out += this.closeAll()
        const error = { code: e.kind === 'stream_incomplete' || e.kind === 'api_error' ? 'server_error' : e.kind, message: e.message }
        return out + this.event('response.failed', { response: this.snapshot({ ...outcomeFields('error', error), usage: this.usage ? responsesUsageJson(this.usage) : null }) })
      }
      default:
        return out
    }
  }
}

