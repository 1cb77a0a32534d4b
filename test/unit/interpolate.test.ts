import { describe, expect, test } from 'bun:test'
import YAML from 'yaml'
import { interpolate } from '../../src/config/interpolate.ts'

const parse = (text: string, env: Record<string, string>) => YAML.parse(interpolate(text, env))

describe('${VAR} interpolation', () => {
  test('fills values in block and flow collections', () => {
    const doc = parse('admin: { token: ${TOKEN} }\nkeys: [${K1}, ${K2}]\nurl: http://${HOST}:8080/v1\n', {
      TOKEN: 'tok',
      K1: 'a',
      K2: 'b',
      HOST: 'example.test',
    })
    expect(doc).toEqual({ admin: { token: 'tok' }, keys: ['a', 'b'], url: 'http://example.test:8080/v1' })
  })

  test('a secret with YAML-special characters cannot change the structure', () => {
    const doc = parse('key: ${K}\nlist: [${K}]\nquoted: "${K}"\n', { K: 'a # b: [c], "d"' })
    expect(doc).toEqual({ key: 'a # b: [c], "d"', list: ['a # b: [c], "d"'], quoted: 'a # b: [c], "d"' })
  })

  test('defaults apply when the variable is unset', () => {
    expect(parse('a: ${NOPE:-fallback}\nb: ${NOPE:-}\n', {})).toEqual({ a: 'fallback', b: '' })
  })

  test('an unset variable without a default is an error that names it and its line', () => {
    expect(() => interpolate('a: 1\nb: ${MISSING_ONE}\n', {})).toThrow('${MISSING_ONE} (line 2)')
  })

  test('comments are not interpolated, and $${ is a literal', () => {
    expect(parse('a: 1 # uses ${NOT_SET}\n# b: ${ALSO_NOT_SET}\nc: $${X}\n', {})).toEqual({ a: 1, c: '${X}' })
  })
})
