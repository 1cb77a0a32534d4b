/**
 * Finds the object value of a key in JSON bytes without parsing the whole document. A quoted key
 * followed by a colon can only be a real key: inside a JSON string the quotes would be escaped.
 * Returns the last occurrence, where OpenAI-style payloads put `usage`.
 */
export function findObjectValue(bytes: Uint8Array, key: string): unknown | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const needle = `"${key}"`
  let at = buf.lastIndexOf(needle)
  while (at >= 0) {
    const open = objectStartAfterKey(buf, at + needle.length)
    if (open >= 0) {
      const close = matchingBrace(buf, open)
      if (close > open) {
        try {
          return JSON.parse(buf.toString('utf8', open, close + 1))
        } catch {
          return undefined
        }
      }
    }
    at = at > 0 ? buf.lastIndexOf(needle, at - 1) : -1
  }
  return undefined
}

function isSpace(c: number | undefined): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13
}

function objectStartAfterKey(buf: Uint8Array, from: number): number {
  let i = from
  while (isSpace(buf[i])) i++
  if (buf[i] !== 58 /* : */) return -1
  i++
  while (isSpace(buf[i])) i++
  return buf[i] === 123 /* { */ ? i : -1
}

function matchingBrace(buf: Uint8Array, open: number): number {
  let depth = 0
  let inString = false
  for (let i = open; i < buf.length; i++) {
    const c = buf[i]
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 123) depth++
    else if (c === 125 && --depth === 0) return i
  }
  return -1
}
