import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLineSink } from '../../src/observability/line-sink.ts'
import { createLogger, createLogging, secretScrubber } from '../../src/observability/logger.ts'
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

  test('the per-request line: the same JSON shape as the logger, fields in order, secrets scrubbed, level honoured', () => {
    const lines: string[] = []
    const { line, logger } = createLogging({
      level: 'info',
      pretty: false,
      destination: { write: (l: string) => void lines.push(l) },
      scrub: secretScrubber(() => ['sk-secret-value-123']),
    })
    line('info', { req_id: 'r1', status: 200, tokens: { prompt: 3 }, skipped: undefined, error: 'said sk-secret-value-123' }, 'request')
    line('info', {}, 'empty "quoted"')
    line('debug', { req_id: 'r2' }, 'request')
    logger.info({ req_id: 'r3' }, 'request')
    expect(lines).toHaveLength(3)
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true)
    const [a, b, c] = lines.map((l) => JSON.parse(l))
    expect(Object.keys(a)).toEqual(['level', 'time', 'req_id', 'status', 'tokens', 'error', 'msg'])
    expect(a).toMatchObject({ level: 'info', req_id: 'r1', status: 200, tokens: { prompt: 3 }, error: 'said [redacted]', msg: 'request' })
    expect(a.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    expect(b).toEqual({ level: 'info', time: b.time, msg: 'empty "quoted"' })
    // The logger's own lines have the same leading fields.
    expect(Object.keys(c).slice(0, 2)).toEqual(['level', 'time'])
    expect(c.time).toMatch(/^\d{4}-\d{2}-\d{2}T/)
  })

  test('pretty lines for terminals: time, level, message, fields', () => {
    const out: string[] = []
    const stream = createPrettyStream({ write: (s: string) => void out.push(s) })
    stream.write(JSON.stringify({ time: Date.UTC(2026, 0, 1, 12, 30, 5, 7), level: 'warn', msg: 'careful', status: 502 }) + '\n')
    expect(out[0]).toContain('12:30:05.007')
    expect(out[0]).toContain('WARN')
    expect(out[0]).toContain('careful status=502')
  })

  test('the default sink writes the lines of one event-loop turn together, in order, and all of them by the end', async () => {
    const writes: string[] = []
    let flushes = 0
    const sink = createLineSink({ write: (s: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer) => (writes.push(String(s)), 0), flush: () => (flushes++, 0), end: () => 0 })
    const logger = createLogger({ level: 'info', pretty: false, destination: sink })
    for (let i = 0; i < 5; i++) logger.info({ i }, 'line')
    expect(writes).toHaveLength(0) // nothing written inside the turn
    await new Promise((r) => setImmediate(r))
    expect(writes).toHaveLength(1)
    expect(flushes).toBe(1)
    expect(writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l).i)).toEqual([0, 1, 2, 3, 4])
    logger.info({ i: 5 }, 'last')
    sink.end() // shutdown: no line is left behind
    expect(writes).toHaveLength(2)
    expect(JSON.parse(writes[1]!).i).toBe(5)
  })

  test('the sink writes to a real file through Bun', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-sink-'))
    try {
      const path = join(dir, 'out.log')
      const sink = createLineSink(Bun.file(path).writer())
      sink.write('one\n')
      sink.write('two\n')
      await new Promise((r) => setImmediate(r))
      sink.end()
      await Bun.sleep(10)
      expect(readFileSync(path, 'utf8')).toBe('one\ntwo\n')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a reader that went away (EPIPE) makes the sink drop lines quietly, not throw', async () => {
    let writes = 0
    const sink = createLineSink({
      write: () => {
        writes++
        throw Object.assign(new Error('EPIPE: broken pipe, write'), { code: 'EPIPE' })
      },
      flush: () => 0,
      end: () => 0,
    })
    sink.write('one\n')
    await new Promise((r) => setImmediate(r))
    sink.write('two\n')
    await new Promise((r) => setImmediate(r))
    expect(() => sink.end()).not.toThrow()
    expect(writes).toBe(1)
  })
})
