import { parseArgs } from 'node:util'
import type { ConfigOverrides } from '../config/load.ts'

export interface ParsedArgs {
  command: string
  overrides: ConfigOverrides
  force: boolean
  help: boolean
  version: boolean
}

export class UsageError extends Error {}

const COMMANDS = new Set(['serve', 'check', 'init', 'help', 'version'])

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
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const [command = 'serve', ...extra] = parsed.positionals
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command "${command}"`)
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const v = parsed.values
  return {
    command,
    overrides: { config: v.config, host: v.host, port: v.port, db: v.db, logLevel: v['log-level'] },
    force: v.force === true,
    help: v.help === true || command === 'help',
    version: v.version === true || command === 'version',
  }
}
