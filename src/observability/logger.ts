import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from '../config/schema.ts'
import { createPrettyStream } from './pretty.ts'

export type { Logger }

export interface LoggerOptions {
  level: LogLevel
  /** Human-readable lines instead of JSON; the default when stdout is a terminal. */
  pretty?: boolean
  /** Where lines go; stdout (asynchronously) by default. */
  destination?: DestinationStream
  /** Removes secrets from a finished line, whatever field or message carries them. */
  scrub?: (line: string) => string
}

// Field names that carry credentials anywhere in a logged object.
const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'key', '*.key', 'token', '*.token', 'apiKey', '*.apiKey', 'api_key', '*.api_key',
  '*.headers["x-api-key"]', '*.headers["api-key"]', 'headers["x-api-key"]', 'headers["api-key"]',
]

/** The one logger of the process: JSON lines (or pretty ones), credentials redacted. */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true
  const destination =
    options.destination ?? (pretty ? createPrettyStream(process.stdout) : pino.destination({ dest: 1, sync: false }))
  const scrub = options.scrub
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: scrub ? { streamWrite: scrub } : undefined,
    },
    destination,
  )
}

/**
 * Replaces any known secret in a text (a finished log line, a stored body). The last defence: an
 * upstream error message that echoes a key, or a careless field, cannot leak one.
 */
export function secretScrubber(secrets: () => Iterable<string>): (line: string) => string {
  let cached: { list: string[]; pattern: RegExp | null } | null = null
  return (line) => {
    const list = [...secrets()].filter((s) => s.length >= 8)
    if (!cached || cached.list.length !== list.length || cached.list.some((s, i) => s !== list[i])) {
      const escaped = list.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      cached = { list, pattern: escaped.length ? new RegExp(escaped.join('|'), 'g') : null }
    }
    return cached.pattern ? line.replace(cached.pattern, '[redacted]') : line
  }
}
