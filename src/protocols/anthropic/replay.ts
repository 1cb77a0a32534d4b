import { sseEvent } from '../../lib/sse.ts'
type Json = Record<string, any>

const event = (type: string, data: Json) => sseEvent(JSON.stringify({ type, ...data }), type)

/** A whole Anthropic message replayed as the event sequence a streamed one would have had. */
export function messageToSse(message: Json): string {
  const { content = [], usage = {}, stop_reason, stop_sequence, ...head } = message
  let out = event('message_start', { message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 0 } } })
  ;(content as Json[]).forEach((block, index) => {
    // Fields a block carries besides its streamed content (`caller` on tool_use) go in its start.
    if (block.type === 'text') {
      const { citations, ...rest } = block
      out += event('content_block_start', { index, content_block: { ...rest, text: '', ...(citations ? { citations: [] } : {}) } })
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } })
      for (const citation of (citations ?? []) as Json[]) out += event('content_block_delta', { index, delta: { type: 'citations_delta', citation } })
    } else if (block.type === 'thinking') {
      out += event('content_block_start', { index, content_block: { ...block, thinking: '', signature: '' } })
      out += event('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } })
      if (block.signature) out += event('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } })
    } else if (block.type === 'tool_use') {
      out += event('content_block_start', { index, content_block: { ...block, input: {} } })
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input ?? {}) } })
    } else {
      out += event('content_block_start', { index, content_block: block })
    }
    out += event('content_block_stop', { index })
  })
  out += event('message_delta', { delta: { stop_reason, stop_sequence: stop_sequence ?? null }, usage })
  return out + event('message_stop', {})
}
