import type { ByteReader } from '../../lib/sse.ts'
import { GatewayError } from '../errors.ts'

/**
 * A stream response committed before the upstream has answered: SSE comments keep the client and
 * any proxy in between from timing out while attempts (and retries) go on behind them; then the
 * answer's stream follows, or an error event if there is none.
 */
export function heartbeatUntil(
  answer: Promise<ReadableStream<Uint8Array>>,
  heartbeatMs: number,
  heartbeat: Uint8Array,
  renderError: (error: GatewayError) => Uint8Array,
  onFailure: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  let inner: ByteReader | null = null
  let timer: ReturnType<typeof setInterval> | null = null
  let cancelled = false
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(heartbeat)
      timer = setInterval(() => controller.enqueue(heartbeat), heartbeatMs)
      try {
        const stream = await answer
        clearInterval(timer)
        if (cancelled) return void stream.cancel().catch(() => {})
        inner = stream.getReader() as unknown as ByteReader
      } catch (err) {
        clearInterval(timer)
        if (cancelled) return
        onFailure(err)
        const error = err instanceof GatewayError ? err : new GatewayError('upstream_error', 'The request failed.')
        controller.enqueue(renderError(error))
        controller.close()
      }
    },
    async pull(controller) {
      if (!inner) return
      const { done, value } = await inner.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel() {
      cancelled = true
      if (timer) clearInterval(timer)
      inner?.cancel().catch(() => {})
    },
  })
}
