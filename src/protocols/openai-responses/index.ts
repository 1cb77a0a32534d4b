import type { Json } from '../ir.ts'
import { modelAndStreamBody } from '../passthrough.ts'
import { responseToEvents } from '../replay.ts'
import type { EventWatcher, WireProtocol } from '../types.ts'
import { carriesUsage, parseEvent, usageEventFrom } from '../usage-scan.ts'
import { decodeRequest, encodeRequest, RESPONSES } from './request.ts'
import { decodeResponse, echoFields, encodeResponse, responseOfItem } from './response.ts'
import { ResponsesStreamDecoder, ResponsesStreamEncoder } from './stream.ts'
import { responsesUsage } from './usage.ts'

const decoder = new TextDecoder()

/** A request's input as a list of items (a string is one user message). */
function inputItems(body: Json): unknown[] {
  if (typeof body.input === 'string') return [{ role: 'user', content: body.input }]
  return Array.isArray(body.input) ? body.input : []
}

const TERMINAL = ['event: response.completed', 'event: response.incomplete', 'event: response.failed', 'event: error'].map((t) => Buffer.from(t))

/** Where the first terminal event (its `event:` line) starts in some bytes, or -1. */
function terminalAt(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let first = -1
  for (const t of TERMINAL) {
    const at = buf.indexOf(t)
    if (at >= 0 && (first < 0 || at < first)) first = at
  }
  return first
}

/** The OpenAI Responses API (`POST /v1/responses`): Codex, the Agents SDK, the AI SDK's default. */
export const openaiResponses: WireProtocol = {
  id: RESPONSES,
  operation: 'responses',
  requestModel: (body) => body.model,
  replyState: echoFields,
  request: { decode: decodeRequest, encode: encodeRequest },
  response: { decode: decodeResponse, encode: encodeResponse },
  stream: {
    decoder: (options) => new ResponsesStreamDecoder(options),
    encoder: (options) => new ResponsesStreamEncoder(options),
  },
  usage: responsesUsage,

  // Usage comes in the terminal event by itself: only the model and `stream` may need changing.
  passthroughBody: modelAndStreamBody,

  usageWatcher(_body, onUsage, count): EventWatcher {
    let ended = false
    return Object.assign(
      (event: Uint8Array) => {
        if (!ended && terminalAt(event) >= 0) ended = true
        if (!carriesUsage(event)) return true
        const data = parseEvent(event)
        const usage = responsesUsage(data?.response?.usage ?? data?.usage, count)
        if (usage) onUsage(usage)
        return true
      },
      {
        needFrom(chunk: Uint8Array) {
          const a = usageEventFrom(chunk)
          const b = terminalAt(chunk)
          return a < 0 ? b : b < 0 ? a : Math.min(a, b)
        },
        complete: () => ended,
      },
    )
  },

  continuation: {
    of: (body) => (typeof body.previous_response_id === 'string' && body.previous_response_id ? body.previous_response_id : null),
    answerId(bytes) {
      // A body begins with its id, a stream with response.created: neither needs a full parse.
      const head = decoder.decode(bytes.subarray(0, 512))
      return /^\s*\{\s*"id"\s*:\s*"([^"\\]{1,200})"/.exec(head)?.[1] ?? /"response"\s*:\s*\{\s*"id"\s*:\s*"([^"\\]{1,200})"/.exec(head)?.[1] ?? null
    },
    stores: (body) => body.store !== false,
    referenced(body) {
      if (!Array.isArray(body.input)) return []
      const ids = new Set<string>()
      for (const item of body.input as Json[]) {
        const response = item?.type === 'item_reference' && typeof item.id === 'string' ? responseOfItem(item.id) : null
        if (response) ids.add(response)
      }
      return [...ids]
    },
    dereference(body, kept) {
      const input = (body.input as Json[]).map((item) => {
        if (item?.type !== 'item_reference' || typeof item.id !== 'string') return item
        const response = kept.get(responseOfItem(item.id) ?? '')
        const found = (response?.output as Json[] | undefined)?.find((o) => o?.id === item.id)
        if (!found) return item
        const { id: _id, ...rest } = found
        return rest
      })
      return { ...body, input }
    },
    history: inputItems,
    resume(body, kept) {
      // The answer's output items are valid input items; the ids in them are the gateway's, never
      // an upstream's, so they are left out. Instructions are not carried over (as at OpenAI).
      const output = (Array.isArray(kept.response.output) ? kept.response.output : []).map(({ id: _id, ...item }: Json) => item)
      const { previous_response_id: _previous, ...rest } = body
      return { ...rest, input: [...kept.input, ...output, ...inputItems(body)] }
    },
  },

  replay(answer, options) {
    const encoder = new ResponsesStreamEncoder(options)
    return responseToEvents(decodeResponse(answer, { provider: options.provider })).map((e) => encoder.push(e)).join('')
  },
}
