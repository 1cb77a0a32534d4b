import { DEFAULT_POOL_SIZE, isPostgresUrl, withoutPassword } from '../lib/postgres-url.ts'
import type { Config, ConfigFile } from './schema.ts'

/**
 * The `database` section. A PostgreSQL URL's password is taken out of the URL into `auth_token`
 * (the server's credential, as it is a libSQL server's token), so that the URL can be shown and
 * logged; a password in the URL wins over `auth_token`.
 */
export function resolveDatabase(url: string, file: ConfigFile['database']): Config['database'] {
  const token = file?.auth_token ? file.auth_token : null
  const postgres = isPostgresUrl(url)
  const split = postgres ? withoutPassword(url) : { url, password: null }
  return {
    url: split.url,
    auth_token: split.password ?? token,
    pool_size: file?.pool_size ?? DEFAULT_POOL_SIZE,
    allow_unshared_limits: file?.allow_unshared_limits ?? false,
  }
}

/**
 * Several instances on one PostgreSQL database share keys, usage and the log, but without Redis each
 * one enforces rate limits, concurrency and quotas alone: N instances let N times the limits through.
 * Start-up refuses that unless `database.allow_unshared_limits` says it is meant.
 */
export function unsharedLimitsProblem(database: Config['database'], redis: Config['redis']): string | null {
  if (!isPostgresUrl(database.url) || redis !== null || database.allow_unshared_limits) return null
  return (
    'database.allow_unshared_limits: a postgres:// database is shared by instances, but without a redis section each instance ' +
    'enforces rate limits, concurrency and quotas on its own (N instances allow N times the limits). Add redis: { url: ... } to ' +
    'share them, or set database.allow_unshared_limits: true when only one instance runs or the multiplied limits are meant'
  )
}

/** The warning start-up logs when PostgreSQL is shared without Redis (allowed by the flag); null otherwise. */
export function unsharedLimitsWarning(config: Pick<Config, 'database' | 'redis'>): string | null {
  if (!isPostgresUrl(config.database.url) || config.redis !== null) return null
  return 'PostgreSQL without redis: each instance enforces rate limits, concurrency and quotas on its own, so N instances allow N times the limits (database.allow_unshared_limits: true)'
}
