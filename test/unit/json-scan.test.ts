import { describe, expect, test } from 'bun:test'
import { findObjectValue } from '../../src/lib/json-scan.ts'

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))

describe('finding usage without parsing the whole body', () => {
  test('finds the top-level object', () => {
    expect(findObjectValue(bytes({ id: 'x', usage: { prompt_tokens: 3, details: { a: 1 } } }), 'usage')).toEqual({
      prompt_tokens: 3,
      details: { a: 1 },
    })
  })

  test('ignores the word inside strings, nulls, and braces inside strings', () => {
    const body = { choices: [{ message: { content: '"usage": {"prompt_tokens": 999}' } }], usage: { note: '}{', n: 1 } }
    expect(findObjectValue(bytes(body), 'usage')).toEqual({ note: '}{', n: 1 })
    expect(findObjectValue(bytes({ usage: null }), 'usage')).toBeUndefined()
  })

  test('tolerates white space around the colon', () => {
    expect(findObjectValue(bytes('{"usage" :  {"a": 1}}'), 'usage')).toEqual({ a: 1 })
  })

  test('a truncated body yields nothing rather than an exception', () => {
    expect(findObjectValue(bytes('{"usage": {"a": 1'), 'usage')).toBeUndefined()
  })
})
