import { describe, expect, test } from 'bun:test'
import { eventData, SseFramer } from '../../src/lib/sse.ts'

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

describe('SSE framing on raw bytes', () => {
  test('events split anywhere across chunks come out whole and byte-exact', () => {
    const text = 'data: {"a":1}\n\ndata: {"b":"é"}\n\n: comment\n\ndata: [DONE]\n\n'
    const bytes = enc(text)
    for (let cut = 1; cut < bytes.length; cut++) {
      const framer = new SseFramer()
      const out = [...framer.push(bytes.slice(0, cut)), ...framer.push(bytes.slice(cut))].map(dec)
      expect(out).toEqual(['data: {"a":1}\n\n', 'data: {"b":"é"}\n\n', ': comment\n\n', 'data: [DONE]\n\n'])
      expect(framer.rest()).toBeNull()
    }
  })

  test('CRLF line endings', () => {
    const framer = new SseFramer()
    expect(framer.push(enc('data: 1\r\n\r\ndata: 2\r\n\r\n')).map(dec)).toEqual(['data: 1\r\n\r\n', 'data: 2\r\n\r\n'])
  })

  test('an unfinished event stays pending until the end', () => {
    const framer = new SseFramer()
    expect(framer.push(enc('data: 1\n\ndata: 2'))).toHaveLength(1)
    expect(dec(framer.rest()!)).toBe('data: 2')
  })

  test('data lines are joined; comments have none', () => {
    expect(eventData(enc('event: x\ndata: a\ndata:b\n\n'))).toBe('a\nb')
    expect(eventData(enc(': ping\n\n'))).toBeNull()
  })
})

describe('SSE framing stays linear and bounded', () => {
  test('a stream fed one byte at a time, LF and CRLF mixed, frames exactly as fed whole', () => {
    const text = 'data: 1\n\ndata: 2\r\n\r\n: c\n\r\nevent: x\ndata: 3\n\ndata: [DONE]\r\n\r\n'
    const whole = new SseFramer().push(enc(text)).map(dec)
    expect(whole).toEqual(['data: 1\n\n', 'data: 2\r\n\r\n', ': c\n\r\n', 'event: x\ndata: 3\n\n', 'data: [DONE]\r\n\r\n'])
    const framer = new SseFramer()
    const out: string[] = []
    for (const byte of enc(text)) out.push(...framer.push(Uint8Array.of(byte)).map(dec))
    expect(out).toEqual(whole)
    expect(framer.rest()).toBeNull()
  })

  test('blank lines that straddle two or three chunks, at every cut', () => {
    const text = 'data: a\r\n\r\ndata: b\n\r\ndata: c\n\ndata: d\r\n'
    const bytes = enc(text)
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a + 1; b < bytes.length; b++) {
        const framer = new SseFramer()
        const out = [bytes.slice(0, a), bytes.slice(a, b), bytes.slice(b)].flatMap((c) => framer.push(c)).map(dec)
        expect(out).toEqual(['data: a\r\n\r\n', 'data: b\n\r\n', 'data: c\n\n'])
        expect(dec(framer.rest()!)).toBe('data: d\r\n')
      }
    }
  })

  test('a lone CR after an event that ended is not taken for half of a blank line', () => {
    const framer = new SseFramer()
    expect(framer.push(enc('data: 1\n\n\r')).map(dec)).toEqual(['data: 1\n\n'])
    expect(framer.push(enc('\ndata: 2\n\n')).map(dec)).toEqual(['\r\ndata: 2\n\n'])
  })

  test('an event past the limit stops the framing after the events before it', () => {
    const framer = new SseFramer(1024)
    expect(framer.push(enc(`data: ok\n\ndata: ${'x'.repeat(600)}`)).map(dec)).toEqual(['data: ok\n\n'])
    expect(framer.oversized()).toBe(false)
    expect(framer.push(enc('x'.repeat(600)))).toEqual([])
    expect(framer.oversized()).toBe(true)
    expect(framer.push(enc('\n\ndata: later\n\n'))).toEqual([])
  })

  test('a whole event longer than the limit inside one chunk is caught too', () => {
    const framer = new SseFramer(1024)
    expect(framer.push(enc(`data: ok\n\ndata: ${'x'.repeat(2000)}\n\ndata: after\n\n`)).map(dec)).toEqual(['data: ok\n\n'])
    expect(framer.oversized()).toBe(true)
  })

  test('one 32 MB event in 16 KB chunks frames in linear time', () => {
    const piece = new Uint8Array(16 * 1024).fill(120)
    const framer = new SseFramer()
    const started = performance.now()
    framer.push(enc('data: '))
    for (let i = 0; i < 2048; i++) framer.push(piece)
    const [event] = framer.push(enc('\n\n'))
    const ms = performance.now() - started
    expect(event!.length).toBe(6 + 32 * 1024 * 1024 + 2)
    // Joining the parts on every chunk (quadratic) takes seconds here; once at the end, milliseconds.
    expect(ms).toBeLessThan(1000)
  })
})
