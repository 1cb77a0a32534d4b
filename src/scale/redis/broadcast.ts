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
