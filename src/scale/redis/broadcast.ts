/**
 * What instances tell each other over Redis pub/sub: what one learned about an upstream key (a
 * rest after a 429, a retired key, a re-enabled one) and that the client keys changed. Delivery is
 * at most once and only while connected; the resync after a reconnect (and the client-key poll)
 * catch up on what was missed. Each message names its sender, which ignores its own.
 */
import { parseKeyEvent, type UpstreamKeyEvent } from '../../gateway/routing/key-events.ts'
import type { Redis } from './client.ts'

export const CHANNELS = { upstreamKeys: 'sluice:upstream-keys', clientKeys: 'sluice:client-keys' } as const

/** A message larger than this is not ours. */
const MAX_MESSAGE_CHARS = 8 * 1024

export interface BroadcastHandlers {
  upstreamKey(event: UpstreamKeyEvent): void
  clientKeysChanged(): void
  /** A publish that failed (Redis away): the others catch up when they resync. */
  onError?(err: unknown): void
}

export interface Broadcast {
  upstreamKey(event: UpstreamKeyEvent): void
  clientKeysChanged(): void
  close(): void
}

export function createBroadcast(redis: Pick<Redis, 'publish' | 'subscribe' | 'unsubscribe'>, instanceId: string, on: BroadcastHandlers): Broadcast {
  const read = (message: string): Record<string, unknown> | null => {
    if (message.length > MAX_MESSAGE_CHARS) return null
    try {
      const value = JSON.parse(message)
      return value && typeof value === 'object' && value.from !== instanceId ? value : null
    } catch {
      return null
    }
  }
  const onKey = (message: string) => {
    const event = parseKeyEvent(read(message))
    if (event) on.upstreamKey(event)
  }
  const onClients = (message: string) => {
    if (read(message)) on.clientKeysChanged()
  }
  // While down, the client subscribes at the next connect.
  redis.subscribe(CHANNELS.upstreamKeys, onKey).catch(() => {})
  redis.subscribe(CHANNELS.clientKeys, onClients).catch(() => {})
  const send = (channel: string, body: object) => void redis.publish(channel, JSON.stringify({ ...body, from: instanceId })).catch((err) => on.onError?.(err))
  return {
    upstreamKey: (event) => send(CHANNELS.upstreamKeys, event),
    clientKeysChanged: () => send(CHANNELS.clientKeys, {}),
    close() {
      redis.unsubscribe(CHANNELS.upstreamKeys, onKey).catch(() => {})
      redis.unsubscribe(CHANNELS.clientKeys, onClients).catch(() => {})
    },
  }
}

/**
 * The dashboard's live tail across instances. An instance with someone watching its tail says so
 * on `sluice:live-watch` at once and every few seconds after; while such a word is fresh, every
 * instance publishes its request summaries (no bodies) on `sluice:live`, and the watching ones
 * pass the others' rows on to their watchers. Nothing is published while nobody watches anywhere.
 */
export const LIVE_CHANNELS = { rows: 'sluice:live', watching: 'sluice:live-watch' } as const

/** How often a watching instance says so; the word counts for three times as long. */
export const LIVE_WATCH_EVERY_MS = 5_000
const LIVE_WATCH_VALID_MS = 3 * LIVE_WATCH_EVERY_MS
/** A row larger than this is not published (nor read). */
const MAX_LIVE_ROW_CHARS = 64 * 1024

export interface LiveRelay {
  /** Whether someone watches anywhere: then rows are worth publishing. */
  wanted(): boolean
  /** A summary of one of this instance's rows, its bodies left out. */
  publish(row: Record<string, unknown>): void
  /** How many watch this instance's tail now. */
  watchers(count: number): void
  close(): void
}

export function createLiveRelay(
  redis: Pick<Redis, 'publish' | 'subscribe' | 'unsubscribe'>,
  instanceId: string,
  on: { row(row: Record<string, unknown>): void; onError?(err: unknown): void },
  now: () => number = Date.now,
): LiveRelay {
  let wantedUntil = 0
  let timer: ReturnType<typeof setInterval> | null = null
  const read = (message: string): Record<string, unknown> | null => {
    if (message.length > MAX_LIVE_ROW_CHARS) return null
    try {
      const value = JSON.parse(message)
      return value && typeof value === 'object' && !Array.isArray(value) && value.from !== instanceId ? value : null
    } catch {
      return null
    }
  }
  const onRow = (message: string) => {
    const value = read(message)
    if (!value || !value.row || typeof value.row !== 'object' || typeof (value.row as { instance?: unknown }).instance !== 'string') return
    on.row(value.row as Record<string, unknown>)
  }
  const onWatching = (message: string) => {
    if (read(message)) wantedUntil = now() + LIVE_WATCH_VALID_MS
  }
  redis.subscribe(LIVE_CHANNELS.rows, onRow).catch(() => {})
  redis.subscribe(LIVE_CHANNELS.watching, onWatching).catch(() => {})
  const send = (channel: string, body: object) => {
    const text = JSON.stringify({ ...body, from: instanceId })
    if (text.length <= MAX_LIVE_ROW_CHARS) void redis.publish(channel, text).catch((err) => on.onError?.(err))
  }
  const sayWatching = () => send(LIVE_CHANNELS.watching, {})
  return {
    wanted: () => wantedUntil > now(),
    publish(row) {
      const { requestBody: _request, responseBody: _response, ...summary } = row
      send(LIVE_CHANNELS.rows, { row: summary })
    },
    watchers(count) {
      if (count > 0 && !timer) {
        sayWatching()
        timer = setInterval(sayWatching, LIVE_WATCH_EVERY_MS)
      } else if (count === 0 && timer) {
        clearInterval(timer)
        timer = null
      }
    },
    close() {
      if (timer) clearInterval(timer)
      timer = null
      redis.unsubscribe(LIVE_CHANNELS.rows, onRow).catch(() => {})
      redis.unsubscribe(LIVE_CHANNELS.watching, onWatching).catch(() => {})
    },
  }
}
