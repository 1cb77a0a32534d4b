import type { Json } from '../ir.ts'
import type { EventWatcher, WireProtocol } from '../types.ts'
import { parseEvent } from '../usage-scan.ts'
import { decodeRequest, encodeRequest, GEMINI } from './request.ts'
import { decodeResponse, encodeResponse } from './response.ts'
import { GeminiStreamDecoder, GeminiStreamEncoder } from './stream.ts'
import { geminiUsage } from './usage.ts'

const USAGE_METADATA = Buffer.from('"usageMetadata"')
const FINISH_REASON = Buffer.from('"finishReason"')
const BLOCK_REASON = Buffer.from('"blockReason"')

/**
 * Google's Gemini API (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent`).
 * The model and whether to stream are in the URL, not in the body.
 */
export const gemini: WireProtocol = {
  id: GEMINI,
  operation: 'generate_content',
  requestModel: () => undefined,
  // Thoughts go to a Gemini client only when it asked for them, as Gemini itself does.
  replyState: (body) => ({ includeThoughts: body.generationConfig?.thinkingConfig?.includeThoughts === true }),
  usageKey: 'usageMetadata',
  request: { decode: decodeRequest, encode: encodeRequest },
  response: { decode: decodeResponse, encode: encodeResponse },
  stream: {
    decoder: (options) => new GeminiStreamDecoder(options),
    encoder: (options) => new GeminiStreamEncoder(options),
  },
  usage: geminiUsage,

  // The upstream is always asked for SSE; a client of the JSON-array form gets it re-encoded.
  relays: (state) => state.array !== true,

  // Nothing in the body names the model or the stream: the client's bytes go as they are.
  passthroughBody: (raw) => raw,

  // Every chunk may repeat the usage so far; the last one counts.
  // A Gemini stream just ends: it is complete once a chunk carried a finish reason.
  usageWatcher(_state, onUsage, count): EventWatcher {
    let finished = false
    return Object.assign(
      (event: Uint8Array) => {
        const buf = Buffer.from(event.buffer, event.byteOffset, event.byteLength)
        // A blocked prompt ends with its block reason instead.
        if (!finished && (buf.indexOf(FINISH_REASON) >= 0 || buf.indexOf(BLOCK_REASON) >= 0)) finished = true
        if (buf.indexOf(USAGE_METADATA) < 0) return true
        const data = parseEvent(event) as Json | null
        const usage = geminiUsage(data?.usageMetadata, count)
        if (usage) onUsage(usage)
        return true
      },
      { complete: () => finished },
    )
  },
}
