import YAML from 'yaml'

/** Where a value came from: the file as it was named on the command line, and a 1-based line. */
export interface Origin {
  file: string
  line: number
}

export type Format = 'env' | 'key' | 'json'

/**
 * Which of the three formats a file is in: a config.json (by name or a leading `{`), a .KEY file
 * (by name, or lines such as `API_KEY_1=sk-...=permanent`), or else a .env file.
 */
export function detectFormat(path: string, text: string): Format {
  const base = path.split(/[\\/]/).pop() ?? path
  if (/\.json$/i.test(base) || text.trimStart().startsWith('{')) return 'json'
  if (/(^|\.)key$/i.test(base)) return 'key'
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  const keyLike = lines.filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=[^=]+=(permanent|\d{4}-\d{2}-\d{2})(=|$)/i.test(l))
  return lines.length > 0 && keyLike.length === lines.length ? 'key' : 'env'
}

export type EnvLine = { line: number; name: string; value: string } | { line: number; problem: string }

/**
 * The assignments of a .env file as python-dotenv reads them: `NAME=value` or `export NAME=value`,
 * values unquoted (a ` #` starts a comment), 'single-quoted' (literal) or "double-quoted" (with
 * \n, \" and \\ escapes, and over several lines). Blank lines and comments are no assignments.
 */
export function parseDotenv(text: string): EnvLine[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  const out: EnvLine[] = []
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s?(.*)$/.exec(trimmed)
    if (!m) {
      out.push({ line: i + 1, problem: 'not a NAME=value line' })
      continue
    }
    const name = m[1]!
    let rest = m[2]!.trim()
    const quote = rest[0]
    if (quote === '"' || quote === "'") {
      // The closing quote may be on a later line.
      let body = rest.slice(1)
      const start = i
      let close = closingQuote(body, quote)
      while (close < 0 && i + 1 < lines.length) {
        i++
        body += '\n' + lines[i]!
        close = closingQuote(body, quote)
      }
      if (close < 0) {
        out.push({ line: start + 1, problem: `the ${quote === '"' ? 'double' : 'single'} quote is never closed` })
        continue
      }
      const after = body.slice(close + 1).trim()
      if (after !== '' && !after.startsWith('#')) {
        out.push({ line: start + 1, problem: 'text after the closing quote' })
        continue
      }
      const value = body.slice(0, close)
      out.push({ line: start + 1, name, value: quote === '"' ? value.replace(/\\([\\"nrt])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c) : value })
      continue
    }
    const comment = rest.search(/\s#/)
    if (comment >= 0) rest = rest.slice(0, comment)
    out.push({ line: i + 1, name, value: rest.trim() })
  }
  return out
}

function closingQuote(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\' && quote === '"') i++
    else if (body[i] === quote) return i
  }
  return -1
}

/**
 * A list as these proxies write one in a .env value: a JSON array (`["sk-a","sk-b"]`, or with
 * single quotes as Python prints it), or comma-separated. Null when it is a broken array.
 */
export function parseList(value: string): string[] | null {
  const text = value.trim()
  if (text.startsWith('[')) {
    for (const candidate of [text, text.replace(/'/g, '"')]) {
      try {
        const parsed: unknown = JSON.parse(candidate)
        if (Array.isArray(parsed) && parsed.every((v) => typeof v === 'string' || typeof v === 'number')) {
          return parsed.map((v) => String(v).trim()).filter(Boolean)
        }
      } catch {
        // try the next reading
      }
    }
    return null
  }
  return text.split(',').map((s) => s.trim()).filter(Boolean)
}

/** A JSON document, with the line of any value in it (for the report). */
export interface LocatedJson {
  value: unknown
  lineOf(path: readonly (string | number)[]): number
}

/** Parses JSON; a syntax error names its line. */
export function parseLocatedJson(text: string): LocatedJson | { problem: string; line: number } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // The parser's message may quote the text around the error (a secret): only the line is said,
    // found by the YAML parser, which reads JSON and keeps positions.
    const errors = YAML.parseDocument(text, { prettyErrors: true }).errors
    return { problem: 'not valid JSON', line: errors[0]?.linePos?.[0].line ?? 1 }
  }
  // JSON is YAML: the YAML parser keeps where each node starts.
  const counter = new YAML.LineCounter()
  const doc = YAML.parseDocument(text, { lineCounter: counter, uniqueKeys: false })
  return {
    value,
    lineOf(path) {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined
        if (node && typeof node === 'object' && node.range) return counter.linePos(node.range[0]).line
      }
      return 1
    },
  }
}
