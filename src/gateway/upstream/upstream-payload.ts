import type { ProviderAdapter } from '../../providers/types.ts'
import type * as ir from '../../protocols/ir.ts'
import { TranslationError } from '../../protocols/ir.ts'
import { protocolById } from '../../protocols/registry.ts'
import { embeddingBridge } from '../../protocols/embeddings.ts'
import type { Operation, WireProtocol } from '../../protocols/types.ts'
import type { Mode } from './attempt.ts'
import type { Target } from '../routing/catalog.ts'
import { GatewayError } from '../errors.ts'
import type { JsonObject } from '../request-body.ts'

/**
 * The protocol a target is spoken to in: the client's own when the provider serves it (a
 * passthrough), else the provider's preferred one (a translation).
 */
export function upstreamWire(client: WireProtocol, target: Target): WireProtocol {
  const speaks = target.provider.adapter.speaks(target.provider.config, target.upstreamModel)
  return speaks.includes(client.id) ? client : protocolById(speaks[0]!)
}

/** The operation an upstream performs for a client's operation; null when it cannot. */
export function upstreamOperation(operation: Operation, client: WireProtocol | null, target: Target): Operation | null {
  const wanted = client ? upstreamWire(client, target).operation : operation
  if (offers(target.provider.adapter, wanted)) return wanted
  return client ? null : (embeddingBridge(operation, target.provider.adapter.operations)?.upstream ?? null)
}

const offers = (adapter: ProviderAdapter, operation: Operation) => adapter.operations.includes(operation)

export interface PayloadInput {
  /** The client's operation and what the provider offers, for operations outside the hub. */
  operation?: Operation
  offered?: readonly Operation[]
  /** The client's protocol; null for operations outside the hub (embeddings, token counting). */
  client: WireProtocol | null
  upstream: WireProtocol | null
  raw: Uint8Array
  body: JsonObject
  /** The client request decoded, made on first need and shared by every target. */
  decoded(): ir.Request
  upstreamModel: string
  provider: string
  mode: Mode
  defaultMaxTokens: number
  /** Told which fields had no equivalent in the upstream's protocol. */
  onDropped(fields: string[]): void
}

/**
 * The request body for one upstream. Same protocol: the client's bytes, touched only where the
 * model or the stream options must change. Other protocol: decoded once, encoded for it.
 */
export function buildPayload(p: PayloadInput): Uint8Array | string {
  const stream = p.mode === 'stream' || p.mode === 'aggregate'
  // Embeddings asked of a provider of the other embeddings API are translated.
  const bridge = !p.client && p.operation ? embeddingBridge(p.operation, p.offered ?? []) : null
  if (bridge) return JSON.stringify(bridge.request(p.body, p.upstreamModel))
  // Outside the hub the body is the client's; only a model named in it changes (Gemini's is in the URL).
  if (!p.client || !p.upstream) return p.body.model === undefined || p.body.model === p.upstreamModel ? p.raw : JSON.stringify({ ...p.body, model: p.upstreamModel })
  if (p.client === p.upstream) return p.client.passthroughBody(p.raw, p.body, p.upstreamModel, stream ? 'stream' : 'json')
  try {
    const decoded = p.decoded()
    // Encoders note what they drop; each target gets its own list.
    const request = { ...decoded, dropped: [...decoded.dropped] }
    const body = p.upstream.request.encode(request, { model: p.upstreamModel, provider: p.provider, stream, defaultMaxTokens: p.defaultMaxTokens })
    if (request.dropped.length > 0) p.onDropped(request.dropped)
    return JSON.stringify(body)
  } catch (err) {
    throw translationFailure(err)
  }
}

/** A request the target protocol cannot express is the client's 400, in its words. */
export function translationFailure(err: unknown): unknown {
  return err instanceof TranslationError ? new GatewayError('invalid_request', err.message, { param: err.param }) : err
}
