import type { ProviderConfig } from '../config/schema.ts'
import type { Operation } from '../protocols/types.ts'
import type { UpstreamLimits } from './limit-headers.ts'

export type { Operation }

export interface UpstreamTarget {
  baseUrl: string
  key: string
  /** Extra headers from the provider's config, sent with every request. */
  headers: Readonly<Record<string, string>>
  /** Protocol headers the client sent that the upstream must see (`anthropic-version`, `anthropic-beta`). */
  passHeaders?: Readonly<Record<string, string>>
  /** The model and whether a stream is asked, for APIs that say them in the URL (Gemini). */
  model: string
  stream: boolean
}

export interface UpstreamRequest {
  url: string
  headers: Record<string, string>
}

/** Everything the gateway needs to know about one kind of upstream API. */
export interface ProviderAdapter {
  /** The `type:` value in the config file. */
  readonly type: string
  readonly defaultBaseUrl: string
  /**
   * The wire protocols (ids from the protocol registry) it serves for a model, preferred first:
   * a client speaking one of them is passed through, any other is translated to the first.
   */
  speaks(config: ProviderConfig, model: string): readonly string[]
  /** The operations its API offers. */
  readonly operations: readonly Operation[]
  /** What its response headers say about the key's request and token windows. */
  readLimits(headers: Headers, now: number): UpstreamLimits
  /** Error wording that means the key itself is unusable (no credit, revoked), whatever status carried it. */
  readonly deadKey: RegExp
  /** How long an error body asks to wait, in seconds (Gemini's RetryInfo), when no header says it. */
  retryAfter?(text: string): number | null
  request(operation: Operation, target: UpstreamTarget): UpstreamRequest
  modelsRequest(target: UpstreamTarget): UpstreamRequest
  /** Words to add when its model list failed (a base URL that misses its version, say). */
  discoveryHint?(status: number, baseUrl: string, url: string): string
  /** Model ids from the upstream's model-list response. */
  parseModels(body: unknown): string[]
  /**
   * For a provider whose last mile is code (`type: module`): answers a request in-process, with a
   * Response in the protocol's wire shape, instead of the HTTP request `request` would describe.
   */
  exchange?(input: ExchangeInput, signal: AbortSignal): Promise<Response>
}

export interface ExchangeInput {
  operation: Operation
  /** The pool member: a key from the config, or a stored account's id. */
  key: string
  model: string
  stream: boolean
  /** The request body, encoded for the provider's protocol. */
  payload: Uint8Array | string
  passHeaders: Readonly<Record<string, string>>
}
