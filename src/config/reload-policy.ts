import type { Config } from './schema.ts'

/**
 * What a reload does with each setting: applied at once, or only by a restart. Every setting of
 * the resolved config is in exactly one list (a test holds this), so a new setting cannot be
 * silently ignored by a reload.
 */
export const APPLIED_ON_RELOAD = [
  'server.body_timeout_ms', 'server.shutdown_grace_ms', 'server.trusted_proxies',
  'admin.token',
  'limits', 'upstream', 'logging.bodies', 'logging.sample_rate', 'logging.max_body_bytes', 'logging.retention_days',
  'metrics', 'prices', 'log', 'auth', 'timeouts', 'retry', 'routing', 'responses', 'circuit_breaker', 'providers', 'aliases',
] as const

export const RESTART_REQUIRED = [
  'server.host', 'server.port', 'server.max_body_bytes', 'server.workers', 'admin.docs', 'logging.queue_size', 'database', 'secrets', 'redis',
] as const

/** Where the config came from: not a setting. */
const NOT_SETTINGS = ['source']

/** The settings (from the two lists) whose values differ between two configs. */
export function changedSettings(before: Config, after: Config): { applied: string[]; restart: string[] } {
  const changed = (path: string) => JSON.stringify(at(before, path)) !== JSON.stringify(at(after, path))
  return { applied: APPLIED_ON_RELOAD.filter(changed), restart: RESTART_REQUIRED.filter(changed) }
}

function at(config: Config, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), config)
}

/** Top-level and nested settings of a config that neither list covers (for the test). */
export function unclassified(config: Config): string[] {
  const listed = new Set<string>([...APPLIED_ON_RELOAD, ...RESTART_REQUIRED, ...NOT_SETTINGS])
  const out: string[] = []
  for (const [key, value] of Object.entries(config)) {
    if (listed.has(key)) continue
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const sub of Object.keys(value)) if (!listed.has(`${key}.${sub}`)) out.push(`${key}.${sub}`)
    } else out.push(key)
  }
  return out
}
