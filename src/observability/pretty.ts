import type { DestinationStream } from 'pino'

const COLORS: Record<string, string> = {
  trace: '\x1b[90m', debug: '\x1b[36m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[35m',
}

/** A small human-readable formatter for terminals, so no worker-thread transport is needed. */
export function createPrettyStream(out: { write(s: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line)
      } catch {
        out.write(line)
        return
      }
      const { time, level, msg, ...rest } = entry
      const clock = new Date(typeof time === 'string' ? time : Number(time)).toISOString().slice(11, 23)
      const label = String(level)
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')
      out.write(`${clock} ${COLORS[label] ?? ''}${label.toUpperCase().padEnd(5)}\x1b[0m ${msg ?? ''}${fields ? ' ' + fields : ''}\n`)
    },
  }
}
