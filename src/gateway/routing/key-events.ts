import type { ModelCatalog } from './catalog.ts'

/**
 * What one instance learned about an upstream key, for the other instances behind the same
 * provider accounts: a 429 that rests the key, a refusal that retires it, an admin's re-enable.
 * A rest is told as a duration, so instances whose clocks disagree still rest it as long.
 */
export type UpstreamKeyEvent =
  | { kind: 'cooled'; provider: string; fingerprint: string; forMs: number }
  | { kind: 'disabled'; provider: string; fingerprint: string; reason: string }
  | { kind: 'enabled'; provider: string; fingerprint: string }

/**
 * Applies an event learned elsewhere to this instance's key pools. Nothing is written: the
 * instance that learned it saved what lasts (a disabled key). Whether the key is known here.
 */
export function applyKeyEvent(catalog: ModelCatalog, event: UpstreamKeyEvent, now: number): boolean {
  const pool = catalog.providers.find((p) => p.name === event.provider)?.pool
  const state = pool?.find(event.fingerprint)
  if (!pool || !state) return false
  switch (event.kind) {
    case 'cooled':
      state.cooldownUntil = Math.max(state.cooldownUntil, now + Math.max(0, event.forMs))
      break
    case 'disabled':
      if (!state.disabled) state.disabled = { reason: event.reason, at: now }
      break
    case 'enabled':
      pool.enable(state)
  }
  return true
}

/** A message from another instance as an event, or null when it is not one. */
export function parseKeyEvent(value: unknown): UpstreamKeyEvent | null {
  if (!value || typeof value !== 'object') return null
  const e = value as Record<string, unknown>
  if (typeof e.provider !== 'string' || typeof e.fingerprint !== 'string') return null
  const { provider, fingerprint } = e
  if (e.kind === 'cooled' && typeof e.forMs === 'number' && Number.isFinite(e.forMs)) return { kind: 'cooled', provider, fingerprint, forMs: e.forMs }
  if (e.kind === 'disabled' && typeof e.reason === 'string') return { kind: 'disabled', provider, fingerprint, reason: e.reason.slice(0, 2000) }
  if (e.kind === 'enabled') return { kind: 'enabled', provider, fingerprint }
  return null
}
