import { OPENAI_TO_ANTHROPIC_STOP, openaiTextParts, openaiUsageToAnthropic, sanitizeToolId, type Json } from './common.ts'
import type { StreamTranslator } from './stream-to-openai.ts'

const event = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

interface ToolState {
  id: string | undefined
  name: string
  /** Anthropic block index once the block is open. */
  block: number | null
  /** Argument fragments that arrived before the call's name. */
  pending: string
}

/**
 * OpenAI chat.completion.chunk events -> Anthropic Messages events, in the exact order the
 * Anthropic SDKs expect: message_start, blocks (start, deltas, stop), message_delta with the
 * stop reason and usage, message_stop. Every event has its `event:` line.
 */
export class OpenAIToAnthropicStream implements StreamTranslator {
  private started = false
  private nextBlock = 0
  private open: { kind: 'text' | 'thinking' | 'tool'; index: number } | null = null
  private tools = new Map<number, ToolState>()
  private stopReason: string | null = null
  private openaiUsage: Json | undefined
  private done = false
  private error: { type: string; message: string } | undefined

  constructor(private readonly model: string) {}

  private start(chunk: Json): string {
    if (this.started) return ''
    this.started = true
    const id = `msg_${String(chunk.id ?? '').replace(/^chatcmpl-/, '') || Math.random().toString(36).slice(2)}`
    return event('message_start', {
      message: {
        // Azure's first chunk (its prompt filter results) has an empty model.
        id, type: 'message', role: 'assistant', model: chunk.model || this.model, content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 },
      },
    })
  }

  private close(): string {
    if (!this.open) return ''
    const out = event('content_block_stop', { index: this.open.index })
    this.open = null
    return out
  }

  private openBlock(kind: 'text' | 'thinking', block: Json): string {
    if (this.open?.kind === kind) return ''
    const out = this.close()
    this.open = { kind, index: this.nextBlock++ }
    return out + event('content_block_start', { index: this.open.index, content_block: block })
  }

  private startTool(tool: ToolState): string {
    let out = this.close()
    tool.block = this.nextBlock++
    this.open = { kind: 'tool', index: tool.block }
    out += event('content_block_start', {
      index: tool.block,
      content_block: { type: 'tool_use', id: tool.id ? sanitizeToolId(tool.id) : `toolu_${Math.random().toString(36).slice(2, 14)}`, name: tool.name, input: {} },
    })
    if (tool.pending) {
      out += event('content_block_delta', { index: tool.block, delta: { type: 'input_json_delta', partial_json: tool.pending } })
      tool.pending = ''
    }
    return out
  }

  push(_name: string | null, data: string): string {
    if (this.done) return ''
    if (data === '[DONE]') return this.finish()
    let chunk: Json
    try {
      chunk = JSON.parse(data)
    } catch {
      return ''
    }
    if (chunk.error) {
      this.done = true
      this.error = { type: chunk.error.type ?? 'api_error', message: chunk.error.message ?? 'upstream error' }
      return this.start(chunk) + event('error', { error: this.error })
    }
    let out = this.start(chunk)
    if (chunk.usage) this.openaiUsage = chunk.usage
    const choice = chunk.choices?.[0]
    if (!choice) return out
    const d = choice.delta ?? {}
    const { reasoning, text } = openaiTextParts(d)
    if (reasoning) {
      out += this.openBlock('thinking', { type: 'thinking', thinking: '', signature: '' })
      out += event('content_block_delta', { index: this.open!.index, delta: { type: 'thinking_delta', thinking: reasoning } })
    }
    if (text) {
      out += this.openBlock('text', { type: 'text', text: '' })
      out += event('content_block_delta', { index: this.open!.index, delta: { type: 'text_delta', text } })
    }
    for (const call of (d.tool_calls ?? []) as Json[]) {
      const k = typeof call.index === 'number' ? call.index : 0
      let tool = this.tools.get(k)
      // A present id that differs starts a new call even at a reused index.
      if (!tool || (call.id && tool.id && call.id !== tool.id)) {
        tool = { id: call.id, name: '', block: null, pending: '' }
        this.tools.set(k, tool)
      }
      if (call.id && !tool.id) tool.id = call.id
      if (call.function?.name) tool.name += call.function.name
      if (tool.block === null && tool.name) out += this.startTool(tool)
      const args = call.function?.arguments
      if (typeof args === 'string' && args) {
        if (tool.block === null) tool.pending += args
        else out += event('content_block_delta', { index: tool.block, delta: { type: 'input_json_delta', partial_json: args } })
      }
    }
    // The finish chunk may carry the last argument fragment: handled above, before this.
    if (choice.finish_reason) this.stopReason = OPENAI_TO_ANTHROPIC_STOP[choice.finish_reason] ?? 'end_turn'
    return out
  }

  private finish(): string {
    this.done = true
    let out = this.start({})
    // A call whose name never came still gets a block, so its arguments are not lost.
    for (const tool of this.tools.values()) if (tool.block === null) out += this.startTool(tool)
    out += this.close()
    const stop = this.stopReason ?? (this.tools.size > 0 ? 'tool_use' : 'end_turn')
    out += event('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: openaiUsageToAnthropic(this.openaiUsage) })
    return out + event('message_stop', {})
  }

  end(): string {
    if (this.done) return ''
    // A stream that stopped after its finish_reason (without [DONE]) is complete; one that
    // stopped before it was cut off, and must not look like a normal end.
    if (this.stopReason) return this.finish()
    this.done = true
    this.error = { type: 'api_error', message: 'The upstream stream ended before the message was complete.' }
    return this.start({}) + event('error', { error: this.error })
  }

  usage(): Json | undefined {
    return this.openaiUsage
  }

  failure() {
    return this.error
  }
}
