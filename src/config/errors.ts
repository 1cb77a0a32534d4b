import type { TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType } from '@sinclair/typebox/value'

/** Turns TypeBox errors into one line per field: `providers[0].base_url: expected string`. */
export function describeSchemaErrors(schema: TSchema, value: unknown): string[] {
  const byPath = new Map<string, string>()
  for (const error of Value.Errors(schema, value)) {
    const path = fieldPath(error.path)
    if (byPath.has(path)) continue
    byPath.set(path, describe(error.type, error.schema, error.message))
  }
  return [...byPath].map(([path, problem]) => `${path || '(top level)'}: ${problem}`)
}

function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '')
}

function describe(type: ValueErrorType, schema: TSchema, message: string): string {
  if (type === ValueErrorType.ObjectAdditionalProperties || message === 'Unexpected property') {
    return 'unknown field (check the spelling; see `sluice init` for every field)'
  }
  if (type === ValueErrorType.ObjectRequiredProperty) return 'required field is missing'
  const literals = schema.const !== undefined
    ? [schema.const]
    : (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const).filter((c) => c !== undefined)
  if (literals && literals.length > 0) return `expected one of: ${literals.join(', ')}`
  if (schema.pattern && type === ValueErrorType.StringPattern) {
    return `expected ${schema.description ?? `a value matching ${schema.pattern}`}`
  }
  return message.charAt(0).toLowerCase() + message.slice(1)
}
