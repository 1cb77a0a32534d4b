import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from '../config/schema.ts'
import { createLineSink } from './line-sink.ts'
import { createPrettyStream } from './pretty.ts'

export type { Logger }

export interface LoggerOptions {
  level: LogLevel
  /** Human-readable lines instead of JSON; the default when stdout is a terminal. */
  pretty?: boolean
  /** Where lines go; stdout (batched per event-loop turn, non-blocking) by default. */
  destination?: DestinationStream
  /** Removes secrets from a finished line, whatever field or message carries them. */
  scrub?: (line: string) => string
}

// Field names that carry credentials, redacted at any of the first three levels of a logged object.
const SECRET_FIELDS = new Set(['authorization', 'key', 'token', 'apikey', 'api_key', 'x-api-key', 'api-key', 'password', 'secret'])

/**
 * Copies an object with credential fields replaced, touching nothing when there are none. (pino's
 * own path-based redaction parses its paths again on every line, which costs more than the rest
 * of a request's logging together.)
 */
export function redactFields(value: Record<string, unknown>, depth = 0): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null
  for (const k in value) {
    const v = value[k]
    let next = v
    if (SECRET_FIELDS.has(k.toLowerCase())) next = '[redacted]'
    else if (depth < 2 && v !== null && typeof v === 'object' && !Array.isArray(v)) next = redactFields(v as Record<string, unknown>, depth + 1)
    if (next !== v) {
      copy ??= { ...value }
      copy[k] = next
    }
  }
  return copy ?? value
}

/**
 * Writes one already-flat record as a log line in the logger's own JSON shape, without pino's
 * per-call machinery: the per-request line is the hottest line there is.
 */
export type LineWriter = (level: 'debug' | 'info' | 'warn', record: Record<string, unknown>, msg: string) => void

/** The one logger of the process: JSON lines (or pretty ones), credentials redacted. */
export function createLogger(options: LoggerOptions): Logger {
  return createLogging(options).logger
}

export function createLogging(options: LoggerOptions): { logger: Logger; line: LineWriter } {
  const pretty = options.pretty ?? process.stdout.isTTY === true
  const destination =
    options.destination ?? (pretty ? createPrettyStream(process.stdout) : createLineSink())
  const scrub = options.scrub
  const logger = pino(
    {
      level: options.level,
      base: undefined,
      // ISO 8601, readable in journald and by people; the same in the per-request line below.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (object) => redactFields(object) },
      ...(scrub ? { hooks: { streamWrite: scrub } } : {}),
    },
    destination,
  )
  // The records given here are built by sluice itself and hold no credential fields; the known
  // secrets are still scrubbed from the finished line.
  const line: LineWriter = (level, record, msg) => {
    if (!logger.isLevelEnabled(level)) return
    if (pretty) return void logger[level](record, msg)
    // The record's own JSON spliced between level/time and msg: no copy of the record object.
    const fields = JSON.stringify(record)
    const text = `{"level":"${level}","time":"${new Date().toISOString()}"${fields.length > 2 ? `,${fields.slice(1, -1)}` : ''},"msg":${JSON.stringify(msg)}}\n`
    destination.write(scrub ? scrub(text) : text)
  }
  return { logger, line }
}

/**
 * Replaces any known secret in a text (a finished log line, a stored body). The last defence: an
 * upstream error message that echoes a key, or a careless field, cannot leak one.
 */
export function secretScrubber(secrets: () => ReadonlySet<string> | readonly string[]): (line: string) => string {
  let source: ReadonlySet<string> | readonly string[] | null = null
  let size = -1
  let list: string[] = []
  let pattern: RegExp | null = null
  return (line) => {
    const current = secrets()
    const n = 'size' in current ? current.size : current.length
    // Rebuilt only when the set of secrets changed (they are only ever added).
    if (current !== source || n !== size) {
      source = current
      size = n
      list = [...current].filter((s) => s.length >= 8)
      const escaped = list.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      pattern = escaped.length ? new RegExp(escaped.join('|'), 'g') : null
    }
    // A plain substring search per secret is cheaper than the regex; the regex only runs on a hit.
    for (const secret of list) if (line.includes(secret)) return line.replace(pattern!, '[redacted]')
    return line
  }
}
