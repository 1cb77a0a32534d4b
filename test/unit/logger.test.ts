import { describe, expect, test } from 'bun:test'
import { createLogger, secretScrubber } from '../../src/observability/logger.ts'
import { createPrettyStream } from '../../src/observability/pretty.ts'

describe('the logger', () => {
  test('JSON lines with level names; credential fields and known secrets are redacted', () => {
    const lines: string[] = []
    const logger = createLogger({
      level: 'info',
      pretty: false,
      destination: { write: (l: string) => void lines.push(l) },
      scrub: secretScrubber(() => ['sk-secret-value-123']),
    })
    logger.info({ headers: { authorization: 'Bearer abc' }, apiKey: 'xyz', note: 'upstream said sk-secret-value-123' }, 'hello')
    logger.debug('not at info')
    expect(lines).toHaveLength(1)
    const entry = JSON.parse(lines[0]!)
    expect(entry).toMatchObject({ level: 'info', msg: 'hello', headers: { authorization: '[redacted]' }, apiKey: '[redacted]' })
    expect(entry.note).toBe('upstream said [redacted]')
  })

  test('pretty lines for terminals: time, level, message, fields', () => {
    const out: string[] = []
    const stream = createPrettyStream({ write: (s: string) => void out.push(s) })
    stream.write(JSON.stringify({ time: Date.UTC(2026, 0, 1, 12, 30, 5, 7), level: 'warn', msg: 'careful', status: 502 }) + '\n')
    expect(out[0]).toContain('12:30:05.007')
    expect(out[0]).toContain('WARN')
    expect(out[0]).toContain('careful status=502')
  })
})
