import type { ProviderConfig } from './schema.ts'

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0|\[::\])$/i

/**
 * Providers whose base URL is this gateway's own listen address. The banner tells users to set
 * OPENAI_BASE_URL for their tools, which is also what sluice reads: restarted from such a shell it
 * would send every request to itself. One problem line per provider, naming the field.
 */
export function selfLoopProblems(providers: readonly ProviderConfig[], listen: { host: string; port: number }): string[] {
  const problems: string[] = []
  providers.forEach((p, i) => {
    let url: URL
    try {
      url = new URL(p.base_url)
    } catch {
      return
    }
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
    const host = url.hostname.toLowerCase()
    const ours = LOOPBACK.test(host) || host === listen.host.toLowerCase() || `[${listen.host}]` === host
    if (ours && port === listen.port) {
      problems.push(`providers[${i}].base_url: ${p.base_url} is this gateway itself (it listens on port ${listen.port}); set the provider's real URL (is OPENAI_BASE_URL pointing at sluice?)`)
    }
  })
  return problems
}
