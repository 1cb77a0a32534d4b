import { ANTHROPIC_TO_OPENAI_STOP, anthropicUsageToOpenAI, type Json } from './common.ts'

/** Translates a stream from one protocol to the other, one upstream event at a time. */
export interface StreamTranslator {
  /** One upstream SSE event (its `event:` name, if any, and its data); returns what to send. */
  push(name: string | null, data: string): string
  /** The upstream stream ended; returns what is left to send (an error if it ended too soon). */
  end(): string
  /** Usage so far, in OpenAI's shape. */
  usage(): Json | undefined
  /** The upstream's in-stream error, if it sent one. */
  failure(): { type: string; message: string } | undefined
}

const chunkLine = (chunk: Json) => `data: ${JSON.stringify(chunk)}\n\n`

/**
 * Anthropic Messages events -> OpenAI chat.completion.chunk events. A tool call's OpenAI index
 * counts tool calls only, while Anthropic's block index also counts text and thinking blocks.
 */
export class AnthropicToOpenAIStream implements StreamTranslator {
  private id = 'chatcmpl-stream'
  private model = ''
  private readonly created = Math.floor(Date.now() / 1000)
  private toolIndex = new Map<number, number>()
  /** Tool blocks that have sent no argument text yet: they get `{}` at their end (valid JSON). */
  private toolsWithoutArgs = new Set<number>()
  private tools = 0
  private usageIn: Json = {}
  private outputTokens = 0
  private done = false
  private error: { type: string; message: string } | undefined
  private seenUsage = false

  constructor(private readonly includeUsage: boolean) {}

  private chunk(delta: Json, finish: string | null = null): string {
    return chunkLine({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [{ index: 0, delta, finish_reason: finish }] })
  }

  push(name: string | null, data: string): string {
    if (this.done) return ''
    let event: Json
    try {
      event = JSON.parse(data)
    } catch {
      return ''
    }
    switch (event.type ?? name) {
      case 'message_start': {
        const m = event.message ?? {}
        this.id = `chatcmpl-${String(m.id ?? '').replace(/^msg_/, '')}`
        this.model = m.model ?? ''
        this.usageIn = m.usage ?? {}
        this.outputTokens = m.usage?.output_tokens ?? 0
        this.seenUsage = true
        let out = this.chunk({ role: 'assistant', content: '' })
        // A message may arrive whole inside message_start (programmatic tool calling): its blocks
        // are replayed as if streamed, and its stop reason ends it.
        if (Array.isArray(m.content)) m.content.forEach((block: Json, index: number) => (out += this.blockStart(index, block) + this.blockStop(index)))
        if (m.stop_reason) out += this.chunk({}, ANTHROPIC_TO_OPENAI_STOP[m.stop_reason] ?? 'stop')
        return out
      }
      case 'content_block_start':
        return this.blockStart(event.index, event.content_block ?? {})
      case 'content_block_stop':
        return this.blockStop(event.index)
      case 'content_block_delta': {
        const d = event.delta ?? {}
        if (d.type === 'text_delta') return this.chunk({ content: d.text })
        if (d.type === 'thinking_delta') return this.chunk({ reasoning_content: d.thinking })
        if (d.type === 'input_json_delta') {
          const k = this.toolIndex.get(event.index)
          if (k === undefined || !d.partial_json) return ''
          this.toolsWithoutArgs.delete(event.index)
          return this.chunk({ tool_calls: [{ index: k, function: { arguments: d.partial_json } }] })
        }
        return ''
      }
      case 'message_delta': {
        // Usage in message_delta is cumulative.
        if (event.usage) {
          this.outputTokens = event.usage.output_tokens ?? this.outputTokens
          for (const f of ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']) {
            if (typeof event.usage[f] === 'number') this.usageIn[f] = event.usage[f]
          }
        }
        const reason = event.delta?.stop_reason
        return reason ? this.chunk({}, ANTHROPIC_TO_OPENAI_STOP[reason] ?? 'stop') : ''
      }
      case 'message_stop': {
        this.done = true
        const usage = this.includeUsage
          ? chunkLine({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: this.usage() })
          : ''
        return usage + 'data: [DONE]\n\n'
      }
      case 'error': {
        this.done = true
        this.error = { type: event.error?.type ?? 'api_error', message: event.error?.message ?? 'upstream error' }
        return chunkLine({ error: { message: this.error.message, type: this.error.type, param: null, code: null } })
      }
      default:
        return ''
    }
  }

  private blockStart(index: number, block: Json): string {
    if (block.type === 'tool_use') {
      const k = this.tools++
      this.toolIndex.set(index, k)
      // The input may come whole here (and no deltas follow) instead of as input_json_delta.
      const input = block.input && typeof block.input === 'object' && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : ''
      if (!input) this.toolsWithoutArgs.add(index)
      return this.chunk({ tool_calls: [{ index: k, id: block.id, type: 'function', function: { name: block.name, arguments: input } }] })
    }
    if (block.type === 'text' && block.text) return this.chunk({ content: block.text })
    if (block.type === 'thinking' && block.thinking) return this.chunk({ reasoning_content: block.thinking })
    return ''
  }

  private blockStop(index: number): string {
    if (!this.toolsWithoutArgs.delete(index)) return ''
    return this.chunk({ tool_calls: [{ index: this.toolIndex.get(index)!, function: { arguments: '{}' } }] })
  }

  end(): string {
    if (this.done) return ''
    this.done = true
    this.error = { type: 'api_error', message: 'The upstream stream ended before the message was complete.' }
    return chunkLine({ error: { message: this.error.message, type: 'api_error', param: null, code: 'stream_incomplete' } })
  }

  usage(): Json | undefined {
    return this.seenUsage ? anthropicUsageToOpenAI({ ...this.usageIn, output_tokens: this.outputTokens }) : undefined
  }

  failure() {
    return this.error
  }
}
