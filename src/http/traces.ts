import { RequestTrace } from '../gateway/record.ts'
import { clip } from '../lib/clip.ts'
import { requestIdFrom } from '../lib/request-id.ts'
import { addCorsHeaders, isCorsPath } from './cors.ts'
import type { Deps } from './deps.ts'

const MAX_PATH = 1024
/** An IPv6 address with a zone fits. */
const MAX_IP = 64

/** The trace of every request in flight, found from the Request object in any lifecycle hook. */
export class Traces {
  private byRequest = new WeakMap<Request, RequestTrace>()
  /** Requests and streams in flight, for metrics. */
  readonly inflight = { requests: 0, streams: 0 }

  constructor(private readonly deps: Deps) {}

  begin(request: Request): RequestTrace {
    this.inflight.requests++
    const url = request.url
    const pathStart = url.indexOf('/', url.indexOf('//') + 2)
    const query = url.indexOf('?', pathStart)
    const trace = new RequestTrace(
      {
        requestId: requestIdFrom(request.headers.get('x-request-id')),
        startedAt: this.deps.now(),
        method: request.method,
        // Kept in logs and the request log: an unknown path may be as long as the header limit allows.
        path: clip(query < 0 ? url.slice(pathStart) : url.slice(pathStart, query), MAX_PATH),
      },
      (record, latencyMs, trace) => {
        this.inflight.requests--
        if (trace.deferred) this.inflight.streams--
        this.deps.onRequestDone(record, latencyMs, trace)
      },
      this.deps.now,
    )
    const logging = this.deps.config().logging
    if (logging.bodies !== 'none' && Math.random() < logging.sample_rate) trace.capture = logging.bodies
    const ip = this.deps.clientIp(request)
    // From X-Forwarded-For behind a trusted proxy: whatever the header said.
    trace.record.clientIp = ip === null ? null : clip(ip, MAX_IP)
    this.byRequest.set(request, trace)
    return trace
  }

  of(request: Request): RequestTrace {
    return this.byRequest.get(request) ?? this.begin(request)
  }

  /** Stamps the request id on a response and completes the trace unless a stream still runs. */
  finish(request: Request, response: Response): Response {
    const trace = this.of(request)
    response.headers.set('x-request-id', trace.record.requestId)
    if (trace.record.path.startsWith('/v1/messages')) response.headers.set('request-id', trace.record.requestId)
    if (isCorsPath(trace.record.path)) addCorsHeaders(request, response)
    if (!trace.deferred) trace.complete({ status: response.status, outcome: response.ok ? 'ok' : 'error' })
    else this.inflight.streams++
    return response
  }
}
