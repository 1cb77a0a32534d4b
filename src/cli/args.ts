import { parseArgs } from 'node:util'
import type { ConfigOverrides } from '../config/load.ts'
import { LOG_LEVELS } from '../config/schema.ts'
import { nearest } from './suggest.ts'

export interface ParsedArgs {
  command: string
  /** `keys create|list|revoke` and its target. */
  subcommand: string | null
  target: string | null
  /** The flags of `keys create`, as given. */
  key: Record<string, string | undefined>
  /** `import`: the files to read and where the results go. */
  files: string[]
  importing: { out?: string; envOut?: string; env: boolean }
  /** `accounts login|import --label`. */
  label?: string
  overrides: ConfigOverrides
  force: boolean
  help: boolean
  version: boolean
}

/** A command line that cannot be run as written: exit code 2. */
export class UsageError extends Error {}

const COMMANDS = ['serve', 'check', 'init', 'keys', 'accounts', 'import', 'service', 'help', 'version']
const KEYS_COMMANDS = ['create', 'list', 'revoke']
const ACCOUNTS_COMMANDS = ['login', 'import', 'list', 'test', 'enable', 'remove']

/** Flags of `sluice keys create`. */
export const KEY_FLAGS = [
  'name', 'key', 'expires', 'rpm', 'tpm', 'concurrency', 'models', 'ips',
  'daily-tokens', 'daily-requests', 'monthly-tokens', 'monthly-requests', 'budget', 'reset-time', 'timezone',
] as const

/** Flags of `sluice import`. */
const IMPORT_FLAGS = ['out', 'env-out', 'env'] as const

const OPTIONS: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
  config: { type: 'string', short: 'c' },
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  db: { type: 'string' },
  'log-level': { type: 'string' },
  workers: { type: 'string' },
  force: { type: 'boolean' },
  ...Object.fromEntries(KEY_FLAGS.map((f) => [f, { type: 'string' as const }])),
  out: { type: 'string' },
  'env-out': { type: 'string' },
  label: { type: 'string' },
  env: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
}

const LONG_FLAGS = Object.keys(OPTIONS)

/** Node's parseArgs messages, said the way the rest of the CLI speaks, with the nearest flag for a typo. */
function usageFromParseError(err: Error & { code?: string }): UsageError {
  const flag = /'(?:-\w, )?(--?[^' <]+)/.exec(err.message)?.[1]
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const near = flag.startsWith('--') ? nearest(flag.slice(2).split('=')[0]!, LONG_FLAGS) : null
    return new UsageError(`unknown option ${flag}${near ? `; did you mean --${near}?` : ''}`)
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    if (/does not take an argument/.test(err.message)) return new UsageError(`${flag} takes no value`)
    if (/ambiguous/.test(err.message)) return new UsageError(`${flag} needs a value (to give one that starts with a dash, write ${flag}=-VALUE)`)
    return new UsageError(`${flag} needs a value`)
  }
  return new UsageError(err.message.split('\n')[0]!)
}

export function parseCliArgs(argv: string[]): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS })
  } catch (err) {
    throw usageFromParseError(err as Error & { code?: string })
  }
  const [command = 'serve', ...extra] = parsed.positionals
  const asksHelp = parsed.values.help === true
  if (!COMMANDS.includes(command)) {
    const near = nearest(command, COMMANDS)
    throw new UsageError(`unknown command "${command}"${near ? `; did you mean "${near}"?` : ''}`)
  }
  let subcommand: string | null = null
  let target: string | null = null
  let files: string[] = []
  if (command === 'keys') {
    subcommand = extra.shift() ?? 'list'
    if (!KEYS_COMMANDS.includes(subcommand)) {
      const near = nearest(subcommand, KEYS_COMMANDS)
      throw new UsageError(`unknown keys command "${subcommand}"${near ? `; did you mean "keys ${near}"?` : ''}`)
    }
    if (subcommand === 'revoke') {
      target = extra.shift() ?? null
      if (!target && !asksHelp) throw new UsageError('keys revoke needs a key id or name')
    }
  }
  if (command === 'accounts') {
    subcommand = extra.shift() ?? 'list'
    if (!ACCOUNTS_COMMANDS.includes(subcommand)) {
      const near = nearest(subcommand, ACCOUNTS_COMMANDS)
      throw new UsageError(`unknown accounts command "${subcommand}"${near ? `; did you mean "accounts ${near}"?` : ''}`)
    }
    target = extra.shift() ?? null
    if (!target && subcommand !== 'list' && !asksHelp) {
      throw new UsageError(`accounts ${subcommand} needs ${subcommand === 'login' || subcommand === 'import' ? 'a provider name' : 'an account id'}`)
    }
    if (subcommand === 'import') {
      files = extra.splice(0, 1)
      if (files.length === 0 && !asksHelp) throw new UsageError('accounts import needs a file with the credentials (JSON)')
    }
  }
  if (command === 'service') {
    subcommand = extra.shift() ?? null
    if (subcommand !== 'install' && !asksHelp) throw new UsageError(`service needs "install" (it prints a systemd unit)${subcommand ? `, got "${subcommand}"` : ''}`)
  }
  if (command === 'import') {
    files = extra.splice(0)
    if (files.length === 0 && !asksHelp) throw new UsageError('import needs at least one file: a .env, a .KEY file or a config.json of the proxy you come from')
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  const v = parsed.values as Record<string, string | boolean | undefined>
  // An empty value (`--port=`) is never what was meant.
  for (const [name, value] of Object.entries(v)) {
    if (value === '') throw new UsageError(`--${name} needs a value`)
  }
  const key = Object.fromEntries(KEY_FLAGS.map((f) => [f, v[f] as string | undefined]))
  if (command !== 'keys' || subcommand !== 'create') {
    const stray = KEY_FLAGS.find((f) => v[f] !== undefined)
    if (stray) throw new UsageError(`--${stray} only goes with "keys create"`)
  }
  if (v.label !== undefined && !(command === 'accounts' && (subcommand === 'login' || subcommand === 'import'))) {
    throw new UsageError('--label only goes with "accounts login" and "accounts import"')
  }
  if (command !== 'import') {
    const stray = IMPORT_FLAGS.find((f) => v[f] !== undefined)
    if (stray) throw new UsageError(`--${stray} only goes with "import"`)
  }
  const port = v.port as string | undefined
  if (port !== undefined && !(/^\d+$/.test(port) && Number(port) <= 65535)) {
    throw new UsageError(`--port: expected a port number 0-65535, got "${port}"`)
  }
  const level = v['log-level'] as string | undefined
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${level}"`)
  }
  return {
    command,
    subcommand,
    target,
    key,
    files,
    importing: { out: v.out as string | undefined, envOut: v['env-out'] as string | undefined, env: v.env === true },
    label: v.label as string | undefined,
    overrides: {
      config: v.config as string | undefined,
      host: v.host as string | undefined,
      port,
      db: v.db as string | undefined,
      logLevel: level,
      workers: v.workers as string | undefined,
    },
    force: v.force === true,
    help: v.help === true || command === 'help',
    version: v.version === true || command === 'version',
  }
}
