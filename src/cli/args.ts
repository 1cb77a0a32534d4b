import { parseArgs } from 'node:util'
import type { ConfigOverrides } from '../config/load.ts'

export interface ParsedArgs {
  command: string
  /** `keys create|list|revoke` and its target. */
  subcommand: string | null
  target: string | null
  /** The flags of `keys create`, as given. */
  key: Record<string, string | undefined>
  overrides: ConfigOverrides
  force: boolean
  help: boolean
  version: boolean
}

export class UsageError extends Error {}

const COMMANDS = new Set(['serve', 'check', 'init', 'keys', 'help', 'version'])

/** Flags of `sluice keys create`. */
export const KEY_FLAGS = [
  'name', 'key', 'expires', 'rpm', 'tpm', 'concurrency', 'models', 'ips',
  'daily-tokens', 'daily-requests', 'monthly-tokens', 'monthly-requests', 'budget', 'reset-time', 'timezone',
] as const

export function parseCliArgs(argv: string[]): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        db: { type: 'string' },
        'log-level': { type: 'string' },
        force: { type: 'boolean' },
        ...Object.fromEntries(KEY_FLAGS.map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const [command = 'serve', ...extra] = parsed.positionals
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command "${command}"`)
  let subcommand: string | null = null
  let target: string | null = null
  if (command === 'keys') {
    subcommand = extra.shift() ?? 'list'
    if (!['create', 'list', 'revoke'].includes(subcommand)) throw new UsageError(`unknown keys command "${subcommand}"`)
    if (subcommand === 'revoke') {
      target = extra.shift() ?? null
      if (!target) throw new UsageError('keys revoke needs a key id or name')
    }
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const v = parsed.values as Record<string, string | boolean | undefined>
  const key = Object.fromEntries(KEY_FLAGS.map((f) => [f, v[f] as string | undefined]))
  if (command !== 'keys' || subcommand !== 'create') {
    const stray = KEY_FLAGS.find((f) => v[f] !== undefined)
    if (stray) throw new UsageError(`--${stray} only goes with "keys create"`)
  }
  return {
    command,
    subcommand,
    target,
    key,
    overrides: {
      config: v.config as string | undefined,
      host: v.host as string | undefined,
      port: v.port as string | undefined,
      db: v.db as string | undefined,
      logLevel: v['log-level'] as string | undefined,
    },
    force: v.force === true,
    help: v.help === true || command === 'help',
    version: v.version === true || command === 'version',
  }
}
