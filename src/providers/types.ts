/** The wire protocol an upstream speaks; the gateway translates between them where they differ. */
export type Protocol = 'openai' | 'anthropic'

/** An API operation the gateway can forward. */
export type Operation = 'chat' | 'embeddings' | 'messages' | 'count_tokens' | 'responses'

export interface UpstreamTarget {
  baseUrl: string
  key: string
  /** Extra headers from the provider's config, sent with every request. */
  headers: Readonly<Record<string, string>>
  /** Protocol headers the client sent that the upstream must see (`anthropic-version`, `anthropic-beta`). */
  passHeaders?: Readonly<Record<string, string>>
}

export interface UpstreamRequest {
  url: string
  headers: Record<string, string>
}

/** Everything the gateway needs to know about one kind of upstream API. */
export interface ProviderAdapter {
  /** The `type:` value in the config file. */
  readonly type: string
  readonly protocol: Protocol
  readonly defaultBaseUrl: string
  /** The operations its API offers. */
  readonly operations: readonly Operation[]
  request(operation: Operation, target: UpstreamTarget): UpstreamRequest
  modelsRequest(target: UpstreamTarget): UpstreamRequest
  /** Model ids from the upstream's model-list response. */
  parseModels(body: unknown): string[]
}
