import { KitError } from './errors.ts'

export type PathSegment = string | number

/**
 * The segments of a path: `data.items[0].id`, `$.data.items[0].id`, `$['odd key'].x`, or `$` for
 * the value itself. A name runs to the next `.` or `[`, so `:event-type` and `x-request-id` are
 * names; `[n]` is an array index and `['…']` / `["…"]` a quoted name (`\` escapes its quote).
 */
export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = []
  let at = 0
  if (path.startsWith('$')) at = 1
  else if (path !== '') at = readName(path, 0, segments)
  while (at < path.length) {
    const c = path[at]
    if (c === '.') at = readName(path, at + 1, segments)
    else if (c === '[') at = readBracket(path, at, segments)
    else throw badPath(path, `unexpected "${c}" at ${at}`)
  }
  return segments
}

function readName(path: string, from: number, out: PathSegment[]): number {
  let end = from
  while (end < path.length && path[end] !== '.' && path[end] !== '[') end++
  if (end === from) throw badPath(path, `an empty name at ${from}`)
  out.push(path.slice(from, end))
  return end
}

function readBracket(path: string, from: number, out: PathSegment[]): number {
  const quote = path[from + 1]
  if (quote === "'" || quote === '"') {
    let name = ''
    for (let i = from + 2; i < path.length; i++) {
      const c = path[i]!
      if (c === '\\' && i + 1 < path.length) name += path[++i]
      else if (c === quote) {
        if (path[i + 1] !== ']') throw badPath(path, `expected "]" at ${i + 1}`)
        out.push(name)
        return i + 2
      } else name += c
    }
    throw badPath(path, `an unclosed quote at ${from + 1}`)
  }
  const close = path.indexOf(']', from)
  const index = path.slice(from + 1, close)
  if (close < 0 || !/^\d+$/.test(index)) throw badPath(path, `"[" at ${from} must hold an index or a quoted name`)
  out.push(Number(index))
  return close + 1
}

const badPath = (path: string, why: string) => new KitError('bad_path', `cannot read the path "${path}": ${why}`)

/**
 * The value at `path` inside `value`, or undefined where it leads nowhere (a missing field, an
 * index past the end, a field of a string). Only a value's own fields are read, so `__proto__`
 * and `constructor` find nothing.
 */
export function readPath(value: unknown, path: string | readonly PathSegment[]): unknown {
  let current = value
  for (const segment of typeof path === 'string' ? parsePath(path) : path) {
    if (current === null || typeof current !== 'object') return undefined
    if (typeof segment === 'number') {
      if (!Array.isArray(current)) return undefined
      current = current[segment]
    } else {
      if (!Object.hasOwn(current, segment)) return undefined
      current = (current as Record<string, unknown>)[segment]
    }
  }
  return current
}

// A variable is a path without quotes or spaces, so the braces of JSON text around it stay text.
const VARIABLE = /\{([A-Za-z_$][\w$.:\-[\]]*)\}/g

/**
 * A template with each `{name}` (or `{path.to[0].name}`) replaced by that value from `values`;
 * `encode` URL-encodes each value (for a path segment or a query value). A variable with no value
 * is an error that names it, never an empty string or "undefined" sent upstream.
 */
export function renderTemplate(template: string, values: Record<string, unknown>, options: { encode?: boolean } = {}): string {
  return template.replace(VARIABLE, (_, name: string) => {
    const value = readPath(values, name)
    if (value === undefined || value === null) throw new KitError('missing_variable', `the template variable "${name}" has no value`)
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'bigint') {
      throw new KitError('bad_template', `the template variable "${name}" is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not text or a number`)
    }
    const text = String(value)
    return options.encode ? encodeURIComponent(text) : text
  })
}
