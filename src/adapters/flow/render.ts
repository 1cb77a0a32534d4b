import { renderTemplate } from '../kit/json-path.ts'

export type Values = Record<string, unknown>

/**
 * A URL template: `{base_url}` as it is, every other value URL-encoded (a conversation id in a
 * path segment cannot add segments or a query).
 */
export function renderUrl(template: string, values: Values): string {
  const base = String(values.base_url ?? '').replace(/\/+$/, '')
  return renderTemplate(template.replaceAll('{base_url}', base), values, { encode: true })
}

export function renderHeaders(templates: Readonly<Record<string, string>> | undefined, values: Values): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, template] of Object.entries(templates ?? {})) out[name.toLowerCase()] = renderTemplate(template, values)
  return out
}

/** A JSON body template: `"{messages}"` alone is the value itself; other strings are rendered. */
export function renderBody(template: unknown, values: Values): unknown {
  if (typeof template === 'string') {
    const whole = /^\{([A-Za-z_$][\w$.:\-[\]]*)\}$/.exec(template)
    if (whole && values[whole[1]!] !== undefined) return values[whole[1]!]
    return renderTemplate(template, values)
  }
  if (Array.isArray(template)) return template.map((v) => renderBody(v, values))
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderBody(v, values)]))
  return template
}
