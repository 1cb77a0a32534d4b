import type { Config } from '../config/schema.ts'

/** What a newcomer needs after start: where to point clients and, on first start, the secrets. */
export function firstRunBanner(url: string, created: { adminToken?: string; clientKey?: string }, config: Config): string {
  const lines = [`sluice is ready: ${url}  (OpenAI SDK base URL: ${url}/v1)`, `dashboard: ${url}/dashboard  (log in with the admin token)`]
  if (config.providers.length === 0) {
    lines.push('No provider is configured: set OPENAI_API_KEY, or write a config with `sluice init`.')
  }
  if (created.adminToken || created.clientKey) {
    lines.push('', 'First start: these secrets are shown this once and stored only as hashes. Save them now.')
    if (created.adminToken) lines.push(`  admin token: ${created.adminToken}`, '  (lost it? start with SLUICE_ADMIN_TOKEN=<a new token>, or admin.token in the config, to replace it)')
    if (created.clientKey) lines.push(`  client key:  ${created.clientKey}`)
  }
  if (created.clientKey) {
    lines.push(
      '',
      'Try it:',
      `  curl ${url}/v1/models -H "Authorization: Bearer ${created.clientKey}"`,
      `  OPENAI_BASE_URL=${url}/v1 OPENAI_API_KEY=${created.clientKey} <your tool>`,
    )
  }
  return lines.join('\n') + '\n\n'
}
