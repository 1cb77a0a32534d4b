/** Connections per process to a PostgreSQL server, unless `database.pool_size` says otherwise. */
export const DEFAULT_POOL_SIZE = 5

/** `postgres://` and `postgresql://`: the database URLs that select PostgreSQL. */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url)

/**
 * A PostgreSQL URL without its password, and the password: the URL can then be shown and logged.
 * A URL that does not parse is returned as it is (opening it reports the problem without it).
 */
export function withoutPassword(url: string): { url: string; password: string | null } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return { url, password: null }
  }
  if (u.password === '') return { url, password: null }
  const password = decodeURIComponent(u.password)
  u.password = ''
  return { url: u.href, password }
}
