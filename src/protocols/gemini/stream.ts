import { sseEvent } from '../../lib/sse.ts'
import type * as ir from '../ir.ts'
import { argumentsObject } from '../media.ts'
import { flatToolName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions, StreamDecoder, StreamEncoder } from '../types.ts'
import { GEMINI } from './request.ts'
import { signatureFor } from './response.ts'
import { FINISH_TO_GEMINI, geminiFinish, geminiUsage, geminiUsageJson } from './usage.ts'

type Json = ir.Json

export const INCOMPLETE = 'The upstream stream ended before the answer was complete.'

/**
 * streamGenerateContent chunks (`data:` events with new parts, cumulative usage, the finish reason
 * on the last) as stream events. A function call arrives whole, as one part.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  private started = false
  private next = 0
  private open: { kind: 'text' | 'reasoning'; index: number } | null = null
  private calls = 0
  private finishReason: string | null = null
  private blocked = false
  private usage: ir.Usage | undefined
  private done = false
  private idBase = 'gemini'

  constructor(private readonly options: DecodeOptions) {}

  private close(out: ir.StreamEvent[]): void {
    if (!this.open) return
    out.push({ type: 'part_end', index: this.open.index })
    this.open = null
  }

  push(_name: string | null, data: string): ir.StreamEvent[] {
    if (this.done) return []
    let chunk: Json
    try {
      chunk = JSON.parse(data)
    } catch {
      return []
    }
    // The JSON-array form's elements come one per event here too; an array of them is unwrapped.
    const chunks = Array.isArray(chunk) ? chunk : [chunk]
    const out: ir.StreamEvent[] = []
    for (const c of chunks) this.one(c, out)
    return out
  }

  private one(chunk: Json, out: ir.StreamEvent[]): void {
    if (this.done) return
    if (chunk?.error) {
      this.done = true
      if (!this.started) out.push({ type: 'start' })
      this.started = true
      out.push({ type: 'error', kind: String(chunk.error.status ?? 'api_error'), message: String(chunk.error.message ?? 'upstream error') })
      return
    }
    if (!this.started) {
      this.started = true
      if (typeof chunk.responseId === 'string') this.idBase = chunk.responseId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 16) || 'gemini'
      out.push({ type: 'start', ...(chunk.responseId ? { id: String(chunk.responseId) } : {}), ...(chunk.modelVersion ? { model: String(chunk.modelVersion) } : {}) })
    }
    const usage = geminiUsage(chunk.usageMetadata)
    if (usage) {
      this.usage = usage
      out.push({ type: 'usage', usage })
    }
    if (!chunk.candidates?.length && chunk.promptFeedback?.blockReason) this.blocked = true
    const candidate = chunk.candidates?.[0]
    for (const p of (candidate?.content?.parts ?? []) as Json[]) {
      const signature = typeof p?.thoughtSignature === 'string' && p.thoughtSignature ? { origin: { protocol: GEMINI, provider: this.options.provider }, value: p.thoughtSignature } : undefined
      if (p?.functionCall) {
        this.close(out)
        const fc = p.functionCall
        const index = this.next++
        const id = typeof fc.id === 'string' && fc.id ? fc.id : `call_${this.idBase}_${this.calls}`
        this.calls++
        out.push({ type: 'part_start', index, part: 'tool_call', id, name: String(fc.name ?? ''), kind: 'function', ...(signature ? { signature } : {}) })
        out.push({ type: 'delta', index, text: JSON.stringify(fc.args ?? {}) })
        out.push({ type: 'part_end', index })
      } else if (typeof p?.text === 'string') {
        const kind = p.thought === true ? 'reasoning' : 'text'
        if (!p.text && !signature) continue
        if (this.open?.kind !== kind) {
          this.close(out)
          this.open = { kind, index: this.next++ }
          out.push({ type: 'part_start', index: this.open.index, part: kind })
        }
        if (p.text) out.push({ type: 'delta', index: this.open.index, text: p.text })
        if (signature && kind === 'reasoning') out.push({ type: 'signature', index: this.open.index, signature })
      }
    }
    if (candidate?.finishReason) this.finishReason = candidate.finishReason
  }

  end(): ir.StreamEvent[] {
    if (this.done) return []
    this.done = true
    const out: ir.StreamEvent[] = []
    if (!this.started) out.push({ type: 'start' })
    // A Gemini stream simply ends: complete when its last chunk had a finish reason.
    if (!this.finishReason && !this.blocked) {
      out.push({ type: 'error', kind: 'stream_incomplete', message: INCOMPLETE })
      return out
    }
    this.close(out)
    const reason = this.blocked ? 'content_filter' : geminiFinish(this.finishReason, this.calls > 0)
    out.push({ type: 'finish', reason, ...(this.finishReason ? { rawReason: this.finishReason } : {}), ...(this.usage ? { usage: this.usage } : {}) })
    return out
  }
}

/**
 * Stream events as streamGenerateContent chunks: `data:` events (no `event:` lines, which the
 * GenAI SDK's reader does not take), or one JSON array written as it grows (`state.array`, the
 * form without `alt=sse`). Function calls are sent whole, once their arguments are complete.
 */
export class GeminiStreamEncoder implements StreamEncoder {
  private parts = new Map<number, { kind: string; id?: string; name?: string; args?: string; signature?: ir.Signature }>()
  private usage: Partial<ir.Usage> | undefined
  private sent = 0
  private done = false

  constructor(private readonly options: ReplyOptions) {}

  private chunk(parts: Json[], extra: Json = {}): string {
    const body = JSON.stringify({
      candidates: [{ content: { role: 'model', parts }, ...(extra.finishReason ? { finishReason: extra.finishReason } : {}), index: 0 }],
      ...(extra.usageMetadata ? { usageMetadata: extra.usageMetadata } : {}),
      modelVersion: this.options.model,
      responseId: this.options.responseId,
    })
    return this.frame(body)
  }

  private frame(body: string): string {
    const first = this.sent++ === 0
    if (this.options.state.array === true) return (first ? '[' : ',\r\n') + body
    return sseEvent(body)
  }

  private closeArray(): string {
    return this.options.state.array === true ? (this.sent === 0 ? '[]' : ']') : ''
  }

  push(e: ir.StreamEvent): string {
    if (this.done) return ''
    switch (e.type) {
      case 'part_start':
        this.parts.set(e.index, e.part === 'tool_call' ? { kind: 'tool_call', id: e.id, name: flatToolName(e.name, e.namespace), args: '', ...(e.signature ? { signature: e.signature } : {}) } : { kind: e.part })
        return ''
      case 'delta': {
        const p = this.parts.get(e.index)
        if (!p || !e.text) return ''
        if (p.kind === 'tool_call') {
          p.args += e.text
          return ''
        }
        if (p.kind === 'reasoning' && this.options.state.includeThoughts !== true) return ''
        return this.chunk([p.kind === 'reasoning' ? { text: e.text, thought: true } : { text: e.text }])
      }
      case 'signature': {
        const p = this.parts.get(e.index)
        const sig = signatureFor(e.signature)
        return p?.kind === 'reasoning' && sig && this.options.state.includeThoughts === true ? this.chunk([{ text: '', thought: true, thoughtSignature: sig }]) : ''
      }
      case 'part_end': {
        const p = this.parts.get(e.index)
        if (p?.kind !== 'tool_call') return ''
        const sig = signatureFor(p.signature)
        return this.chunk([{ functionCall: { id: p.id, name: p.name, args: argumentsObject(p.args ?? '') }, ...(sig ? { thoughtSignature: sig } : {}) }])
      }
      case 'usage':
        this.usage = { ...this.usage, ...e.usage }
        return ''
      case 'finish': {
        this.done = true
        if (e.usage) this.usage = { ...this.usage, ...e.usage }
        return this.chunk([{ text: '' }], { finishReason: FINISH_TO_GEMINI[e.reason], usageMetadata: geminiUsageJson(this.usage) }) + this.closeArray()
      }
      case 'error': {
        this.done = true
        const error = { error: { code: 500, message: e.message, status: 'INTERNAL' } }
        return this.frame(JSON.stringify(error)) + this.closeArray()
      }
      default:
        return ''
    }
  }
}
