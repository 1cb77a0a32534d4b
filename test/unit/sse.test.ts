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
