import type * as ir from './ir.ts'
import type { Count } from './media.ts'

/** A client-facing API operation. Generation operations belong to exactly one protocol. */
export type Operation =
  | 'chat' | 'embeddings' | 'messages' | 'count_tokens' | 'responses'
  // Gemini's: generateContent (streamed or not), countTokens, embedContent, batchEmbedContents.
  | 'generate_content' | 'gemini_count_tokens' | 'embed_content' | 'batch_embed_contents'

/** How one attempt asks its upstream: streamed, or for one JSON answer. */
export type UpstreamMode = 'stream' | 'json'

/**
 * Looks at each whole SSE event of a passthrough stream; returns false to drop it. `needFrom`, if
 * given, says where in a chunk of whole events the first one it must see starts (-1: none), so
 * chunks without such an event pass without being split.
 */
export type EventWatcher = ((event: Uint8Array) => boolean) & {
  needFrom?: (chunk: Uint8Array) => number
  /** At the upstream's end: whether its protocol's last event came (false: the stream was cut short). */
  complete?: () => boolean
}

export interface EncodeOptions {
  /** The model id the upstream knows. */
  model: string
  /** The provider the request goes to: reasoning signatures are only sent back where they came from. */
  provider: string
  stream: boolean
  /** Used when the protocol requires an output limit and the client gave none. */
  defaultMaxTokens: number
}

export interface DecodeOptions {
  /** The provider that answered: recorded on reasoning signatures. */
  provider: string
}

export interface ReplyOptions {
  /** The model id to show the client (what it asked for). */
  model: string
  /** The provider that answered. */
  provider: string
  /** What of the client's request the reply must map back (tool kinds, namespaces), when it was decoded. */
  request: ReplyRequest | null
  /** What the protocol kept of the client's request for its reply (`replyState`). */
  state: ir.Json
  /** An id for the answer, where the protocol's ids are the gateway's own (Responses). */
  responseId: string
  /** Told the whole answer as the client got it, when the gateway keeps it (a stateless provider, `store`). */
  onAnswer?: (answer: ir.Json) => void
}

export type ReplyRequest = Pick<ir.Request, 'tools' | 'includeEncryptedReasoning'>

export interface StreamDecoder {
  /** One upstream SSE event (its `event:` name, if any, and its data) as events. */
  push(name: string | null, data: string): ir.StreamEvent[]
  /** The upstream stream ended: what is left (an error if it ended before its finish). */
  end(): ir.StreamEvent[]
}

export interface StreamEncoder {
  /** The SSE text for one event ('' for none). */
  push(event: ir.StreamEvent): string
}

/**
 * One wire protocol, declared once: its generation operation, how its requests, answers and
 * streams are decoded to and encoded from the internal representation, how usage is read from
 * it, and what a same-protocol passthrough must adjust. The gateway core asks this declaration
 * and never names a protocol.
 */
export interface WireProtocol {
  readonly id: string
  /** The operation of its generation route. */
  readonly operation: Operation
  /** The model id a client request names, or null when the body names none. */
  requestModel(body: ir.Json): unknown
  /**
   * The little of a client's request its replies need (a chat client's wish for the usage chunk,
   * the fields a Responses answer echoes), kept so that the request itself can be let go.
   */
  replyState(body: ir.Json): ir.Json
  request: {
    decode(body: ir.Json): ir.Request
    encode(request: ir.Request, options: EncodeOptions): ir.Json
  }
  response: {
    decode(body: ir.Json, options: DecodeOptions): ir.Response
    encode(response: ir.Response, options: ReplyOptions): ir.Json
  }
  stream: {
    decoder(options: DecodeOptions): StreamDecoder
    encoder(options: ReplyOptions): StreamEncoder
  }
  /** The key of the usage object in an answer, when it is not `usage` (Gemini's `usageMetadata`). */
  readonly usageKey?: string
  /** Usage from the `usage` object of an answer (or a stream's last event). */
  usage(raw: unknown, count?: Count): ir.Usage | undefined
  /**
   * Same protocol on both sides: the client's bytes, touched only where the model or the stream
   * flag (and the usage the gateway needs to see) must change.
   */
  passthroughBody(raw: Uint8Array, body: ir.Json, upstreamModel: string, mode: UpstreamMode): Uint8Array | string
  /** Whether a same-protocol stream can go to this client as the upstream's bytes (false: re-encoded, as for Gemini's JSON-array framing). */
  relays?(state: ir.Json): boolean
  /** Watches a passthrough stream for usage; may drop the usage event the gateway asked for on the client's behalf. */
  usageWatcher(state: ir.Json, onUsage: (usage: ir.Usage) => void, count?: Count): EventWatcher
  /**
   * Upstream-held state: the id of a stored answer a request continues (Responses'
   * `previous_response_id`), and the id an answer is stored under, read from its whole body or its
   * stream's first bytes. A continuation only resolves on the upstream key that made the answer.
   */
  continuation?: {
    of(body: ir.Json): string | null
    answerId(bytes: Uint8Array): string | null
    /** Whether the client wants its answer kept (Responses: `store` is true unless sent false). */
    stores(body: ir.Json): boolean
    /** The conversation a request carries, as input items. */
    history(body: ir.Json): unknown[]
    /** A request continuing a kept answer, made whole: the kept conversation and answer, then its own input. */
    resume(body: ir.Json, kept: { input: unknown[]; response: ir.Json }): ir.Json
    /** The kept responses a request refers to by item (`item_reference`), none when it refers to none. */
    referenced(body: ir.Json): string[]
    /** The request with each reference to an item of the given kept responses replaced by the item. */
    dereference(body: ir.Json, kept: ReadonlyMap<string, ir.Json>): ir.Json
  }
  /** A whole same-protocol answer as the stream it would have been (fake_stream); defaults to the generic path. */
  replay?(answer: ir.Json, options: ReplyOptions): string
  /** A whole same-protocol event stream folded into one answer (stream-only upstreams, JSON clients). */
  collect?(bytes: Uint8Array): ir.Json
}
