/**
 * `${VAR}` and `${VAR:-default}` interpolation on the raw text of a YAML or JSON config file, so
 * that secrets can stay in the environment. It works on the text because YAML flow collections
 * (`keys: [${K1}, ${K2}]`) cannot even be parsed before substitution. A placeholder that stands
 * alone as a value is inserted as a quoted string, so characters such as `#` or `:` in a secret
 * cannot change the document's structure. `$${` writes a literal `${`. Comments are left alone.
 */
export class InterpolationError extends Error {}

const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** `lenient`: a variable that is not set becomes empty instead of an error (for commands that read only part of the file). */
export function interpolate(text: string, env: Record<string, string | undefined>, lenient = false): string {
  const lines = text.split('\n')
  const missing: string[] = []
  const out = lines.map((line, index) => {
    const commentAt = commentStart(line)
    const body = commentAt < 0 ? line : line.slice(0, commentAt)
    const comment = commentAt < 0 ? '' : line.slice(commentAt)
    const replaced = body.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined, offset: number) => {
      if (match === '$${') return '${'
      const value = env[name!] ?? fallback
      if (value === undefined) {
        if (lenient) return render('', body, offset, match.length)
        missing.push(`\${${name}} (line ${index + 1})`)
        return ''
      }
      return render(value, body, offset, match.length)
    })
    return replaced + comment
  })
  if (missing.length > 0) {
    throw new InterpolationError(
      `environment variable not set: ${missing.join(', ')}; set it, or give a default as \${NAME:-default}`,
    )
  }
  return out.join('\n')
}

function render(value: string, line: string, offset: number, length: number): string {
  const before = line[offset - 1]
  const after = line[offset + length]
  if (before === '"' && after === '"') return JSON.stringify(value).slice(1, -1)
  if (before === "'" && after === "'") return value.replaceAll("'", "''")
  const standsAlone = /(^|[\s,[{:-])$/.test(line.slice(0, offset)) && /^(\s|,|]|}|$)/.test(line.slice(offset + length))
  return standsAlone ? JSON.stringify(value) : value
}

/** Index of a `#` that starts a comment (at line start or after white space, outside quotes). */
function commentStart(line: string): number {
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote) {
      if (c === '\\' && quote === '"') i++
      else if (c === quote) quote = null
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s:[{,-]/.test(line[i - 1]!))) {
      quote = c
    } else if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) {
      return i
    }
  }
  return -1
}
