import type { Usage } from './usage.ts'

/** What is known about one request when it ends; logged, and later stored and counted. */
export interface RequestRecord {
  requestId: string
  startedAt: number
  method: string
  path: string
  clientKey?: string
  clientKeyId?: string
  model?: string
  alias?: string
  provider?: string
  /** Fingerprint of the upstream key of the last attempt. */
  upstreamKey?: string
  attempts?: number
  /** Size of the request body, for usage estimates. */
  requestBytes?: number
  upstreamModel?: string
  stream?: boolean
  status?: number
  errorCode?: string
  errorMessage?: string
  /** Milliseconds from the request's arrival to the first byte from the upstream. */
  ttfbMs?: number
  usage?: Usage
  costUsd?: number
  clientIp?: string | null
  /** For streams: how many events and bytes reached the client. */
  delivered?: { events: number; bytes: number }
  /** 'client_closed' when the client went away before the end. */
  outcome?: 'ok' | 'error' | 'client_closed'
}

/**
 * One request's record, completed exactly once: by the HTTP layer for plain responses, or by the
 * gateway when a stream ends.
 */
export class RequestTrace {
  readonly record: RequestRecord
  /** Set when the gateway took over completion (a stream that outlives the handler). */
  deferred = false
  /** Headers every response to this request carries, success or failure (rate-limit state). */
  readonly headers: Record<string, string> = {}
  /** Which bodies to keep for the request log (decided per request, sampling included). */
  capture: 'none' | 'errors' | 'all' = 'none'
  requestBody?: Uint8Array
  responseBody?: Uint8Array | string
  private done = false
  private finalizers: Array<(record: RequestRecord) => void> = []

  constructor(
    record: RequestRecord,
    private readonly onComplete: (record: RequestRecord, latencyMs: number, trace: RequestTrace) => void,
    private readonly now: () => number,
  ) {
    this.record = record
  }

  /** Runs once the request is over, before it is reported (settling limits, for instance). */
  onDone(finalizer: (record: RequestRecord) => void): void {
    this.finalizers.push(finalizer)
  }

  complete(patch: Partial<RequestRecord> = {}): void {
    if (this.done) return
    this.done = true
    Object.assign(this.record, patch)
    for (const f of this.finalizers) f(this.record)
    this.onComplete(this.record, this.now() - this.record.startedAt, this)
  }
}
