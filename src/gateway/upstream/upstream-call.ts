import type { TimeoutsConfig } from '../../config/schema.ts'
import type { ConnectWatch } from './connect-watch.ts'
import { GatewayError } from '../errors.ts'

export type AbortReason = 'connect_timeout' | 'first_byte_timeout' | 'idle_timeout' | 'total_timeout' | 'client_closed' | 'client_stalled'

/** Thrown when the client went away; there is nobody left to answer. */
export class ClientClosed extends Error {
  constructor() {
    super('client closed the request')
  }
}

const TIMEOUT_TEXT: Record<Exclude<AbortReason, 'client_closed' | 'client_stalled'>, (ms: number) => string> = {
  connect_timeout: (ms) => `could not connect within ${ms} ms`,
  first_byte_timeout: (ms) => `no response within ${ms} ms`,
  idle_timeout: (ms) => `the stream was silent for ${ms} ms`,
  total_timeout: (ms) => `the request took longer than ${ms} ms`,
}

/**
 * One HTTP exchange with an upstream and its timers: connect, first byte, stream silence and the
 * whole request. Any of them, or the client leaving, aborts the upstream request at once.
 *
 * Stream silence counts only while the gateway waits on the upstream (a read in progress). While
 * the gateway waits on the client instead (it has not asked for more: a client that stopped
 * reading holds the stream back), the same limit ends the stream as the client's doing.
 */
export class UpstreamCall {
  readonly controller = new AbortController()
  reason: AbortReason | null = null
  private timers: Array<ReturnType<typeof setTimeout>> = []
  private idleTimer: ReturnType<typeof setInterval> | null = null
  /** Since when the stream has waited on the upstream (`waiting`) or on the client. */
  private since = 0
  private waiting = false
  /** Told when the call is aborted, with why (a stalled client is noticed by no read). */
  onAbort: ((reason: AbortReason) => void) | null = null
  private firstByteTimer: ReturnType<typeof setTimeout> | null = null
  private stopConnectWatch: () => void = () => {}
  private readonly onClientAbort = () => this.abort('client_closed')

  constructor(
    readonly providerName: string,
    private readonly timeouts: TimeoutsConfig,
    private readonly clientSignal: AbortSignal,
    private readonly connectWatch: ConnectWatch,
    private readonly proxy: string | null = null,
  ) {}

  async start(url: string, init: { method: string; headers: Record<string, string>; body?: RequestInit['body'] }): Promise<Response> {
    return this.run(url, (signal) => {
      // timeout: false turns off Bun's own 5-minute socket idle timer; ours above decide.
      const options: RequestInit & { timeout: false; proxy?: string } = {
        method: init.method,
        headers: init.headers,
        body: init.body,
        signal,
        timeout: false,
        // A redirect would carry the key and configured headers to another address.
        redirect: 'manual',
      }
      if (this.proxy) options.proxy = this.proxy
      return fetch(url, options)
    })
  }

  /**
   * The same timers around code that answers in-process (a module provider) instead of a fetch.
   * Code that ignores the abort signal is not waited for: the exchange ends when a timer fires.
   */
  async startExchange(exchange: (signal: AbortSignal) => Promise<Response>): Promise<Response> {
    return this.run(null, (signal) => {
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(new Error('aborted'))
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
      })
      const answer = exchange(signal)
      // A late answer from code that was given up on is discarded, its body cancelled.
      answer.then((r) => void (signal.aborted && r.body?.cancel().catch(() => {})), () => {})
      return Promise.race([answer, aborted])
    })
  }

  private async run(url: string | null, send: (signal: AbortSignal) => Promise<Response>): Promise<Response> {
    if (this.clientSignal.aborted) throw new ClientClosed()
    this.clientSignal.addEventListener('abort', this.onClientAbort, { once: true })
    this.timers.push(setTimeout(() => this.abort('total_timeout'), this.timeouts.total_ms))
    this.firstByteTimer = setTimeout(() => this.abort('first_byte_timeout'), this.timeouts.first_byte_ms)
    // A module's own fetches have their own connect bound; its answer counts from the first byte timer.
    if (url !== null) this.stopConnectWatch = this.connectWatch.watch(this.proxy ?? url, this.timeouts.connect_ms, () => this.abort('connect_timeout'))
    try {
      const response = await send(this.controller.signal)
      this.stopConnectWatch()
      if (url !== null) this.connectWatch.reachable(this.proxy ?? url)
      return response
    } catch (err) {
      this.finish()
      // An adapter that threw (not our timers, not the client) is the provider's failure, in its words.
      if (url === null && !this.reason && !(err instanceof GatewayError)) {
        throw new GatewayError('upstream_error', `Provider ${this.providerName}: its adapter failed: ${String((err as Error)?.message ?? err).slice(0, 300)}`)
      }
      throw this.failure(err)
    }
  }

  /** The first body byte arrived: the first-byte timer is done, the silence watch begins. */
  firstByte(streaming: boolean): void {
    if (this.firstByteTimer) clearTimeout(this.firstByteTimer)
    this.firstByteTimer = null
    if (!streaming || this.idleTimer || this.reason) return
    this.since = Date.now()
    // One coarse interval per stream instead of a timer reset per chunk: chunks only stamp a time.
    const idle = this.timeouts.stream_idle_ms
    const step = Math.max(10, Math.min(1000, Math.floor(idle / 4)))
    this.idleTimer = setInterval(() => {
      if (Date.now() - this.since >= idle) this.abort(this.waiting ? 'idle_timeout' : 'client_stalled')
    }, step)
  }

  /** A read of the stream begins: from now the gateway waits on the upstream. */
  reading(): void {
    this.waiting = true
    this.since = Date.now()
  }

  /** Bytes arrived on a stream: from now the gateway waits on the client to ask for more. */
  touch(): void {
    this.waiting = false
    this.since = Date.now()
  }

  abort(reason: AbortReason): void {
    if (this.reason) return
    this.reason = reason
    this.controller.abort()
    this.finish()
    this.onAbort?.(reason)
  }

  /** Clears every timer and listener; call when the exchange is over. */
  finish(): void {
    for (const t of this.timers) clearTimeout(t)
    if (this.idleTimer) clearInterval(this.idleTimer)
    if (this.firstByteTimer) clearTimeout(this.firstByteTimer)
    this.stopConnectWatch()
    this.clientSignal.removeEventListener('abort', this.onClientAbort)
  }

  /** The error to report for a failed fetch or body read. */
  failure(err: unknown): Error {
    if (this.reason === 'client_closed') return new ClientClosed()
    if (!this.reason && err instanceof GatewayError) return err
    if (this.reason === 'client_stalled') return this.clientStalled()
    if (this.reason) {
      const ms = this.timeouts[this.reason === 'connect_timeout' ? 'connect_ms'
        : this.reason === 'first_byte_timeout' ? 'first_byte_ms'
        : this.reason === 'idle_timeout' ? 'stream_idle_ms' : 'total_ms']
      return new GatewayError('upstream_timeout', `Provider ${this.providerName}: ${TIMEOUT_TEXT[this.reason](ms)}.`)
    }
    const e = err as { code?: string; message?: string }
    const cause = e.code && e.code !== 'ERR_UNKNOWN' ? e.code : (e.message ?? 'network error')
    return new GatewayError('upstream_unreachable', `Provider ${this.providerName} could not be reached (${cause}).`)
  }

  /** A stream ended because its client stopped reading: the client's doing, not the provider's. */
  clientStalled(): GatewayError {
    return new GatewayError('client_stalled', `The client stopped reading the stream for ${this.timeouts.stream_idle_ms} ms.`)
  }
}
