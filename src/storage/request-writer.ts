import { sql } from 'drizzle-orm'
import type { Database } from './database.ts'
import { LATENCY_BUCKETS_MS, requestLog, usageDaily, usageHourly } from './schema.ts'

export type LogRow = typeof requestLog.$inferInsert

export interface WriterOptions {
  /** Records held at most; beyond that new ones are dropped and counted. */
  maxQueue: number
  batchSize: number
  flushMs: number
  onError(err: unknown): void
  onDropped(count: number): void
}

export interface RequestWriter {
  enqueue(row: LogRow): void
  /** Writes everything queued so far. */
  flush(): Promise<void>
  start(): void
  /** Stops the timer and writes what is left: no completed request is lost on shutdown. */
  stop(): Promise<void>
  readonly depth: number
  readonly dropped: number
}

const HOUR = 3_600_000

function bucketOf(latencyMs: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => latencyMs <= b)
  return i < 0 ? LATENCY_BUCKETS_MS.length : i
}

/**
 * The request log's writer. Requests only push to a bounded in-memory queue; a timer writes it in
 * batches, each one transaction holding the raw rows and the increments of the daily and hourly
 * aggregates. A slow or locked database delays the flush, never a request.
 */
export function createRequestWriter(database: Database, options: WriterOptions): RequestWriter {
  const { db } = database
  let queue: LogRow[] = []
  let dropped = 0
  let timer: ReturnType<typeof setInterval> | null = null
  let running: Promise<void> = Promise.resolve()

  async function writeBatch(rows: LogRow[]): Promise<void> {
    const daily = new Map<string, typeof usageDaily.$inferInsert>()
    const hourly = new Map<number, Record<string, number>>()
    for (const r of rows) {
      const error = r.status >= 400 ? 1 : 0
      const day = new Date(r.ts).toISOString().slice(0, 10)
      const dk = `${day}\u0000${r.keyId ?? ''}\u0000${r.model ?? ''}\u0000${r.provider ?? ''}`
      const d = daily.get(dk) ?? {
        day, keyId: r.keyId ?? '', model: r.model ?? '', provider: r.provider ?? '',
        requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, costUsd: 0,
      }
      d.requests! += 1
      d.errors! += error
      d.promptTokens! += r.promptTokens ?? 0
      d.completionTokens! += r.completionTokens ?? 0
      d.cachedTokens! += r.cachedTokens ?? 0
      d.reasoningTokens! += r.reasoningTokens ?? 0
      d.costUsd! += r.costUsd ?? 0
      daily.set(dk, d)
      const hour = Math.floor(r.ts / HOUR) * HOUR
      const h = hourly.get(hour) ?? { hour, requests: 0, errors: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, latencySumMs: 0 }
      h.requests! += 1
      h.errors! += error
      h.rateLimited! += r.status === 429 ? 1 : 0
      h.promptTokens! += r.promptTokens ?? 0
      h.completionTokens! += r.completionTokens ?? 0
      h.costUsd! += r.costUsd ?? 0
      h.latencySumMs! += r.latencyMs
      const b = `l${bucketOf(r.latencyMs)}`
      h[b] = (h[b] ?? 0) + 1
      hourly.set(hour, h)
    }
    const statements = [
      db.insert(requestLog).values(rows),
      ...[...daily.values()].map((d) =>
        db.insert(usageDaily).values(d).onConflictDoUpdate({
          target: [usageDaily.day, usageDaily.keyId, usageDaily.model, usageDaily.provider],
          set: {
            requests: sql`${usageDaily.requests} + excluded.requests`,
            errors: sql`${usageDaily.errors} + excluded.errors`,
            promptTokens: sql`${usageDaily.promptTokens} + excluded.prompt_tokens`,
            completionTokens: sql`${usageDaily.completionTokens} + excluded.completion_tokens`,
            cachedTokens: sql`${usageDaily.cachedTokens} + excluded.cached_tokens`,
            reasoningTokens: sql`${usageDaily.reasoningTokens} + excluded.reasoning_tokens`,
            costUsd: sql`${usageDaily.costUsd} + excluded.cost_usd`,
          },
        }),
      ),
      ...[...hourly.values()].map((h) =>
        db.insert(usageHourly).values(h as typeof usageHourly.$inferInsert).onConflictDoUpdate({
          target: usageHourly.hour,
          set: Object.fromEntries(
            Object.keys(h)
              .filter((k) => k !== 'hour')
              .map((k) => {
                const column = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
                return [k, sql.raw(`"${column}" + excluded."${column}"`)]
              }),
          ),
        }),
      ),
    ]
    await db.batch(statements as [any, ...any[]])
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const rows = queue.slice(0, options.batchSize)
      try {
        await writeBatch(rows)
        queue = queue.slice(rows.length)
      } catch (err) {
        // The rows stay queued for the next flush; the queue bound still applies.
        options.onError(err)
        return
      }
    }
  }

  const flush = () => (running = running.then(drain))

  return {
    enqueue(row) {
      if (queue.length >= options.maxQueue) {
        dropped++
        options.onDropped(dropped)
        return
      }
      queue.push(row)
      if (queue.length >= options.batchSize) void flush()
    },
    flush,
    start() {
      timer ??= setInterval(() => void flush(), options.flushMs)
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = null
      await flush()
    },
    get depth() {
      return queue.length
    },
    get dropped() {
      return dropped
    },
  }
}
