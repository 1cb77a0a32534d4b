import type { ClientKey } from '../gateway/access/client-keys.ts'
import type { GatewayError } from '../gateway/errors.ts'
import type { ProxyInput } from '../gateway/gateway.ts'
import type { Operation } from '../providers/types.ts'
import type { Deps } from './deps.ts'
import { readBody } from './read-body.ts'
import type { Traces } from './traces.ts'

export interface ProtocolEdge {
  renderStreamError(error: GatewayError): Uint8Array
  heartbeat: Uint8Array
  /** Client headers to forward to an upstream of the same protocol. */
  passHeaders: readonly string[]
}

/** What a route knows from its URL: the model and the stream wish (Gemini), reply framing, how an estimate looks. */
export type RouteFacts = Pick<ProxyInput, 'model' | 'stream' | 'routeState' | 'estimate'>

/** The handler shared by every proxied route: read the body, hand it to the gateway. */
export function proxyHandler(deps: Deps, traces: Traces, edge: ProtocolEdge) {
  return async (operation: Operation, request: Request, clientKey: ClientKey, route: RouteFacts = {}): Promise<Response> => {
    const trace = traces.of(request)
    trace.record.clientKey = clientKey.name
    trace.record.clientKeyId = clientKey.id
    // Counted before the body is read: a key over its rpm is refused without reading it, and a
    // request refused later (unknown model, bad body) still counts.
    const counted = deps.limiter.admitRequest(clientKey)
    Object.assign(trace.headers, counted instanceof Promise ? await counted : counted)
    deps.keepOpen(request)
    // A client that stopped reading a stream would otherwise hold its socket forever.
    trace.onDone(releaseWhenDone(deps, request))
    const config = deps.config()
    // Read before the gateway admits it: a body still arriving holds no concurrency slot.
    const raw = await readBody(request, config.server.max_body_bytes, config.server.body_timeout_ms)
    trace.record.requestBytes = raw.byteLength
    if (trace.capture !== 'none') {
      // The log keeps a capped prefix; a copy of just that, so a long stream does not hold the body.
      const keep = config.logging.max_body_bytes * 4
      trace.requestBody = raw.byteLength > keep ? raw.slice(0, keep) : raw
    }
    const passHeaders: Record<string, string> = {}
    for (const name of edge.passHeaders) {
      const value = request.headers.get(name)
      if (value !== null) passHeaders[name] = value
    }
    const response = await deps.gateway.proxy({
      operation,
      clientKey,
      raw,
      trace,
      signal: request.signal,
      // Claude Code names its session in its own header.
      sessionId: request.headers.get('x-session-id') ?? request.headers.get('x-claude-code-session-id'),
      passHeaders,
      renderStreamError: edge.renderStreamError,
      heartbeat: edge.heartbeat,
      requestCounted: true,
      ...route,
    })
    return traces.finish(request, response)
  }
}

/** Made outside the handler: a closure made inside would keep its scope, request body included, alive for the whole stream. */
function releaseWhenDone(deps: Deps, request: Request): () => void {
  return () => deps.releaseOpen(request)
}
