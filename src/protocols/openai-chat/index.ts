import type { Json } from '../ir.ts'
import type { EventWatcher, WireProtocol } from '../types.ts'
import { carriesUsage, parseEvent, usageEventFrom } from '../usage-scan.ts'
import { completionToSse, sseToCompletion } from './chunks.ts'
import { decodeRequest, encodeRequest } from './request.ts'
import { decodeResponse, encodeResponse } from './response.ts'
import { ChatStreamDecoder, ChatStreamEncoder } from './stream.ts'
import { chatUsage } from './usage.ts'


/** Whether a streaming client asked for the usage chunk itself. */
const wantsUsage = (body: Json) => body.stream_options?.include_usage === true

/** OpenAI chat completions (`POST /v1/chat/completions`), as every OpenAI-compatible API speaks it. */
export const openaiChat: WireProtocol = {
  id: 'openai-chat',
  operation: 'chat',
  requestModel: (body) => body.model,
  replyState: (body) => ({ wantsUsage: wantsUsage(body) }),
  request: { decode: decodeRequest, encode: encodeRequest },
  response: { decode: decodeResponse, encode: encodeResponse },
  stream: {
    decoder: (options) => new ChatStreamDecoder(options),
    encoder: (options) => new ChatStreamEncoder(options),
  },
  usage: chatUsage,

  passthroughBody(raw, body, upstreamModel, mode) {
    // A stream is always asked for its usage chunk: the gateway meters from it.
    if (body.model === upstreamModel) {
      if (mode === 'json' && body.stream !== true) return raw
      if (mode === 'stream' && body.stream === true && wantsUsage(body)) return raw
    }
    const out: Json = { ...body, model: upstreamModel }
    if (mode === 'stream') {
      out.stream = true
      out.stream_options = { ...body.stream_options, include_usage: true }
    } else {
      delete out.stream
      delete out.stream_options
    }
    return JSON.stringify(out)
  },

  usageWatcher(state, onUsage, count): EventWatcher {
    // The usage chunk (`choices: []`) is dropped when the gateway asked for it on behalf of a client that did not.
    const strip = state.wantsUsage !== true
    return Object.assign(
      (event: Uint8Array) => {
        if (!carriesUsage(event)) return true
        const chunk = parseEvent(event)
        if (!chunk) return true
        const usage = chatUsage(chunk.usage, count)
        if (usage) onUsage(usage)
        const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0
        return !(strip && usageOnly)
      },
      { needFrom: usageEventFrom },
    )
  },

  replay: (answer, options) => new TextDecoder().decode(completionToSse(answer, options.state.wantsUsage === true)),
  collect: sseToCompletion,
}

