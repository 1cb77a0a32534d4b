import { RequestTrace } from '../gateway/record.ts'
import { requestIdFrom } from '../lib/request-id.ts'
import type { Deps } from './deps.ts'

/** The trace of every request in flight, found from the Request object in any lifecycle hook. */
export class Traces {
  private byRequest = new WeakMap<Request, RequestTrace>()

  constructor(private readonly deps: Deps) {}

  begin(request: Request): RequestTrace {
    const url = request.url
    const pathStart = url.indexOf('/', url.indexOf('//') + 2)
    const query = url.indexOf('?', pathStart)
    const trace = new RequestTrace(
      {
        requestId: requestIdFrom(request.headers.get('x-request-id')),
        startedAt: this.deps.now(),
        method: request.method,
        path: query < 0 ? url.slice(pathStart) : url.slice(pathStart, query),
      },
      this.deps.onRequestDone,
      this.deps.now,
    )
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
    if (!trace.deferred) trace.complete({ status: response.status, outcome: response.ok ? 'ok' : 'error' })
    return response
  }
}
