export { isPostgresUrl } from '../../lib/postgres-url.ts'

export interface PostgresTarget {
  /** The URL without its password and query: safe to show and log. */
  shown: string
  /** The password the URL carries, if any. */
  password: string | null
  hostname: string
  port: number
  username: string | null
  database: string
  /** The URL without its password, for the settings Bun reads from its query (`sslmode`, ...). */
  url: string
}

/**
 * Reads a PostgreSQL URL, or says what is wrong with it. Nothing returned or thrown repeats the
 * password: messages name the URL as `shown`.
 */
export function parsePostgresUrl(url: string): PostgresTarget | string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return 'database URL: not a valid postgres:// URL (a password with @, : or / in it must be percent-encoded)'
  }
  const password = u.password ? decodeURIComponent(u.password) : null
  u.password = ''
  const shownUrl = new URL(u.href)
  shownUrl.search = ''
  const shown = shownUrl.href
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (u.hostname === '') return `database URL ${shown}: expected a host (postgres://user:password@host:5432/database)`
  if (database === '' || database.includes('/')) return `database URL ${shown}: expected a database name after the host (postgres://user:password@host:5432/database)`
  const port = u.port === '' ? 5432 : Number(u.port)
  return {
    shown,
    password,
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    username: u.username ? decodeURIComponent(u.username) : null,
    database,
    url: u.href,
  }
}
