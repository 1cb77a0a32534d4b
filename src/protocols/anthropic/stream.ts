import { sseEvent } from '../../lib/sse.ts'
import type * as ir from '../ir.ts'
import { sanitizeToolId } from '../media.ts'
import { signedCallId } from '../signatures.ts'
import { flatToolName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions, StreamDecoder, StreamEncoder } from '../types.ts'
import { ANTHROPIC } from './request.ts'
import { blockPart, messageId, signatureFor } from './response.ts'
import { ANTHROPIC_FINISH, anthropicUsage, anthropicUsageJson, FINISH_TO_ANTHROPIC } from './usage.ts'

type Json = ir.Json

export const INCOMPLETE = 'The upstream stream ended before the message was complete.'

/** Messages events as stream events. Block indexes become part indexes; server-tool blocks are skipped. */
export class AnthropicStreamDecoder implements StreamDecoder {
  private usage: Json = {}
  private stopReason: string | null = null
  private stopSequence: string | null = null
  private known = new Set<number>()
  private tools = 0
  private done = false

  constructor(private readonly options: DecodeOptions) {}

  /** A whole block (in message_start, or in content_block_start with its content) as events. */
  private wholeBlock(index: number, block: Json, out: ir.StreamEvent[], close: boolean): void {
    const part = blockPart(block, this.options.provider)
    if (!part || (part.type === 'reasoning' && part.redacted !== undefined)) return
    this.known.add(index)
    if (part.type === 'tool_call') {
      this.tools++
      out.push({ type: 'part_start', index, part: 'tool_call', id: part.id, name: part.name, kind: 'function', ...(part.extra ? { extra: part.extra } : {}) })
      // The input may come whole here (and no deltas follow) instead of as input_json_delta.
      if (part.input !== '{}') out.push({ type: 'delta', index, text: part.input })
    } else {
      out.push({ type: 'part_start', index, part: part.type === 'reasoning' ? 'reasoning' : 'text' })
      if (part.text) out.push({ type: 'delta', index, text: part.text })
      if (part.type === 'reasoning' && part.signature?.value) out.push({ type: 'signature', index, signature: part.signature })
      if (part.type === 'text' && part.citations) for (const c of part.citations.items) out.push({ type: 'citation', index, origin: part.citations.origin, citation: c })
    }
    if (close) out.push({ type: 'part_end', index })
  }

  push(_name: string | null, data: string): ir.StreamEvent[] {
    if (this.done) return []
    let event: Json
    try {
      event = JSON.parse(data)
    } catch {
      return []
    }
    const out: ir.StreamEvent[] = []
    switch (event?.type) {
      case 'message_start': {
        const m = event.message ?? {}
        if (m.usage && typeof m.usage === 'object') this.usage = { ...m.usage }
        out.push({ type: 'start', ...(m.id ? { id: String(m.id) } : {}), ...(m.model ? { model: String(m.model) } : {}) })
        // A message may come whole here (programmatic tool calling): its blocks, then message_stop.
        ;((Array.isArray(m.content) ? m.content : []) as Json[]).forEach((b, i) => this.wholeBlock(i, b, out, true))
        if (m.stop_reason) this.stopReason = m.stop_reason
        return out
      }
      case 'content_block_start':
        this.wholeBlock(event.index, event.content_block ?? {}, out, false)
        return out
      case 'content_block_delta': {
        const index = event.index
        if (!this.known.has(index)) return out
        const d = event.delta ?? {}
        if (d.type === 'text_delta' && d.text) out.push({ type: 'delta', index, text: d.text })
        else if (d.type === 'thinking_delta' && d.thinking) out.push({ type: 'delta', index, text: d.thinking })
        else if (d.type === 'input_json_delta' && d.partial_json) out.push({ type: 'delta', index, text: d.partial_json })
        else if (d.type === 'signature_delta' && d.signature) out.push({ type: 'signature', index, signature: { origin: { protocol: ANTHROPIC, provider: this.options.provider }, value: d.signature } })
        else if (d.type === 'citations_delta') out.push({ type: 'citation', index, origin: { protocol: ANTHROPIC, provider: this.options.provider }, citation: d.citation })
        return out
      }
      case 'content_block_stop':
        if (this.known.has(event.index)) out.push({ type: 'part_end', index: event.index })
        return out
      case 'message_delta': {
        // Usage in message_delta is cumulative.
        if (event.usage && typeof event.usage === 'object') {
          this.usage = { ...this.usage, ...event.usage }
          out.push({ type: 'usage', usage: anthropicUsage(this.usage)! })
        }
        if (event.delta?.stop_reason) this.stopReason = event.delta.stop_reason
        if (event.delta?.stop_sequence) this.stopSequence = event.delta.stop_sequence
        return out
      }
      case 'message_stop': {
        this.done = true
        const reason = (this.stopReason && ANTHROPIC_FINISH[this.stopReason]) || (this.tools > 0 ? 'tool_calls' : 'stop')
        const usage = anthropicUsage(this.usage)
        out.push({ type: 'finish', reason, ...(this.stopReason ? { rawReason: this.stopReason } : {}), stopSequence: this.stopSequence, ...(usage ? { usage } : {}) })
        return out
      }
      case 'error':
        this.done = true
        out.push({ type: 'error', kind: event.error?.type ?? 'api_error', message: event.error?.message ?? 'upstream error' })
        return out
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

const sse = (type: string, data: Json) => sseEvent(JSON.stringify({ type, ...data }), type)

/**
 * Stream events as Messages events, in the exact order the Anthropic SDKs expect: message_start,
 * blocks (start, deltas, stop) one at a time, message_delta with the stop reason and usage,
 * message_stop. Every event has its `event:` line.
 */
export class AnthropicStreamEncoder implements StreamEncoder {
  private started = false
  private next = 0
  private blocks = new Map<number, { block: number; kind: string }>()
  private open: number | null = null
  private usage: Partial<ir.Usage> | undefined
  private done = false

  constructor(private readonly options: ReplyOptions) {}

  private begin(e?: Extract<ir.StreamEvent, { type: 'start' }>): string {
    if (this.started) return ''
    this.started = true
    return sse('message_start', {
      message: {
        id: messageId(e?.id ?? ''), type: 'message', role: 'assistant', model: e?.model || this.options.model, content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 },
      },
    })
  }

  private close(): string {
    if (this.open === null) return ''
    const out = sse('content_block_stop', { index: this.open })
    this.open = null
    return out
  }

  push(e: ir.StreamEvent): string {
    if (this.done) return ''
    if (e.type === 'start') return this.begin(e)
    let out = this.begin()
    switch (e.type) {
      case 'part_start': {
        out += this.close()
        const block = this.next++
        this.blocks.set(e.index, { block, kind: e.part })
        this.open = block
        let content: Json
        if (e.part === 'tool_call') {
          const extra = e.extra?.origin.protocol === ANTHROPIC ? e.extra.fields : {}
          content = { type: 'tool_use', id: sanitizeToolId(signedCallId(e.id, e.signature, ANTHROPIC)), name: flatToolName(e.name, e.namespace), input: {}, ...extra }
        } else if (e.part === 'reasoning') content = { type: 'thinking', thinking: '', signature: '' }
        else content = { type: 'text', text: '' }
        return out + sse('content_block_start', { index: block, content_block: content })
      }
      case 'delta': {
        const b = this.blocks.get(e.index)
        if (!b || !e.text) return out
        const delta = b.kind === 'tool_call' ? { type: 'input_json_delta', partial_json: e.text }
          : b.kind === 'reasoning' ? { type: 'thinking_delta', thinking: e.text }
          : { type: 'text_delta', text: e.text }
        return out + sse('content_block_delta', { index: b.block, delta })
      }
      case 'signature': {
        const b = this.blocks.get(e.index)
        if (!b || b.kind !== 'reasoning') return out
        return out + sse('content_block_delta', { index: b.block, delta: { type: 'signature_delta', signature: signatureFor(e.signature) } })
      }
      case 'citation': {
        const b = this.blocks.get(e.index)
        if (!b || e.origin.protocol !== ANTHROPIC) return out
        return out + sse('content_block_delta', { index: b.block, delta: { type: 'citations_delta', citation: e.citation } })
      }
      case 'part_end': {
        const b = this.blocks.get(e.index)
        return b && b.block === this.open ? out + this.close() : out
      }
      case 'usage':
        this.usage = { ...this.usage, ...e.usage }
        return out
      case 'finish': {
        this.done = true
        if (e.usage) this.usage = { ...this.usage, ...e.usage }
        out += this.close()
        const stop = e.rawReason && e.rawReason in ANTHROPIC_FINISH && ANTHROPIC_FINISH[e.rawReason] === e.reason ? e.rawReason : FINISH_TO_ANTHROPIC[e.reason]
        out += sse('message_delta', { delta: { stop_reason: stop, stop_sequence: e.stopSequence ?? null }, usage: anthropicUsageJson(this.usage) })
        return out + sse('message_stop', {})
      }
      case 'error':
        this.done = true
        return out + sse('error', { error: { type: e.kind === 'stream_incomplete' ? 'api_error' : e.kind, message: e.message } })
    }
  }
}
