import type * as ir from './ir.ts'
import { eventsToResponse, responseToEvents } from './replay.ts'
import type { DecodeOptions, EncodeOptions, ReplyOptions, StreamDecoder, StreamEncoder, WireProtocol } from './types.ts'

/** A client request for an upstream of another protocol: decoded once, encoded once. */
export function translateRequest(from: WireProtocol, to: WireProtocol, body: ir.Json, options: EncodeOptions): { body: ir.Json; request: ir.Request } {
  const request = from.request.decode(body)
  return { body: to.request.encode(request, options), request }
}

/** An upstream's whole answer for a client of another protocol. */
export function translateResponse(from: WireProtocol, to: WireProtocol, answer: ir.Json, decode: DecodeOptions, reply: ReplyOptions): ir.Json {
  return to.response.encode(from.response.decode(answer, decode), reply)
}

/** A whole answer as a client's stream: the protocol's own replay when it is the same protocol, else through events. */
export function answerAsStream(from: WireProtocol, to: WireProtocol, answer: ir.Json, decode: DecodeOptions, reply: ReplyOptions): string {
  if (from === to && to.replay) return to.replay(answer, reply)
  const encoder = to.stream.encoder(reply)
  return responseToEvents(from.response.decode(answer, decode)).map((e) => encoder.push(e)).join('')
}

/** A stream of one protocol folded into a whole answer of another (a stream-only upstream, a JSON client). */
export function collectStream(from: WireProtocol, events: Array<{ name: string | null; data: string }>, decode: DecodeOptions): ir.Response {
  const decoder = from.stream.decoder(decode)
  const all: ir.StreamEvent[] = []
  for (const e of events) all.push(...decoder.push(e.name, e.data))
  all.push(...decoder.end())
  return eventsToResponse(all)
}

/**
 * A stream from one protocol to another, one upstream event at a time: decoded to events and
 * encoded at once. Keeps the usage and the upstream's in-stream error for the request record.
 */
export class StreamTranslation {
  private lastUsage: Partial<ir.Usage> | undefined
  private error: { type: string; message: string } | undefined

  constructor(
    private readonly decoder: StreamDecoder,
    private readonly encoder: StreamEncoder,
  ) {}

  private encode(events: ir.StreamEvent[]): string {
    let out = ''
    for (const e of events) {
      if (e.type === 'usage' || (e.type === 'finish' && e.usage)) this.lastUsage = { ...this.lastUsage, ...(e.type === 'usage' ? e.usage : e.usage) }
      else if (e.type === 'error') this.error = { type: e.kind, message: e.message }
      out += this.encoder.push(e)
    }
    return out
  }

  push(name: string | null, data: string): string {
    return this.encode(this.decoder.push(name, data))
  }

  end(): string {
    return this.encode(this.decoder.end())
  }

  usage(): Partial<ir.Usage> | undefined {
    return this.lastUsage
  }

  failure(): { type: string; message: string } | undefined {
    return this.error
  }
}
