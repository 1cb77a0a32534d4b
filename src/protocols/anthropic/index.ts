import type { Json } from '../ir.ts'
import { modelAndStreamBody } from '../passthrough.ts'
import type { EventWatcher, WireProtocol } from '../types.ts'
import { parseEvent } from '../usage-scan.ts'
import { messageToSse } from './replay.ts'
import { ANTHROPIC, decodeRequest, encodeRequest } from './request.ts'
import { decodeResponse, encodeResponse } from './response.ts'
import { AnthropicStreamDecoder, AnthropicStreamEncoder } from './stream.ts'
import { anthropicUsage } from './usage.ts'

const MESSAGE_START = Buffer.from('event: message_start')
const MESSAGE_DELTA = Buffer.from('event: message_delta')

/** Anthropic Messages (`POST /v1/messages`). */
export const anthropic: WireProtocol = {
  id: ANTHROPIC,
  operation: 'messages',
  requestModel: (body) => body.model,
  replyState: () => ({}),
  request: { decode: decodeRequest, encode: encodeRequest },
  response: { decode: decodeResponse, encode: encodeResponse },
  stream: {
    decoder: (options) => new AnthropicStreamDecoder(options),
    encoder: (options) => new AnthropicStreamEncoder(options),
  },
  usage: anthropicUsage,

  // Anthropic streams always carry usage: only the model and `stream` may need changing.
  passthroughBody: modelAndStreamBody,

  // Input usage comes in message_start, cumulative output usage in message_delta.
  usageWatcher(_body, onUsage, count): EventWatcher {
    let seen: Json = {}
    return (event) => {
      const buf = Buffer.from(event.buffer, event.byteOffset, event.byteLength)
      const start = buf.indexOf(MESSAGE_START) === 0
      if (!start && buf.indexOf(MESSAGE_DELTA) !== 0) return true
      const data = parseEvent(event)
      const usage = start ? data?.message?.usage : data?.usage
      if (usage && typeof usage === 'object') {
        seen = { ...seen, ...usage }
        const parsed = anthropicUsage(seen, count)
        if (parsed) onUsage(parsed)
      }
      return true
    }
  },

  replay: (answer) => messageToSse(answer),
}
