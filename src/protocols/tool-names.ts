import { sha256Hex } from '../lib/crypto.ts'
import type { Tool } from './ir.ts'

const MAX_NAME = 64

/**
 * A namespaced tool (Responses `namespace` tools: Codex's `multi_agent_v1`, MCP servers) as one
 * name for protocols without namespaces: `ns__tool`, shortened deterministically to the 64
 * characters of `[a-zA-Z0-9_-]` function names allow.
 */
export function flatToolName(name: string, namespace?: string): string {
  const full = namespace ? `${namespace}__${name}` : name
  const clean = full.replace(/[^a-zA-Z0-9_-]/g, '_')
  if (clean.length <= MAX_NAME && clean === full) return full
  if (clean.length <= MAX_NAME) return clean
  return clean.slice(0, MAX_NAME - 9) + '_' + sha256Hex(full).slice(0, 8)
}

/** The declared tool a flat name from an upstream stands for, if any. */
export function toolByFlatName(tools: readonly Tool[], flat: string): Tool | undefined {
  return tools.find((t) => flatToolName(t.name, t.namespace) === flat) ?? tools.find((t) => t.name === flat && !t.namespace)
}

/** The one-string-argument schema a freeform (custom) tool becomes for function-only protocols. */
export const CUSTOM_TOOL_SCHEMA = {
  type: 'object',
  properties: { input: { type: 'string', description: 'The raw input for this tool.' } },
  required: ['input'],
  additionalProperties: false,
}

/** A freeform tool's raw input as function arguments, and back. */
export const customArguments = (input: string) => JSON.stringify({ input })

export function customInput(args: string): string {
  try {
    const parsed = JSON.parse(args)
    if (typeof parsed?.input === 'string') return parsed.input
  } catch {
    // not the wrapper: the text itself
  }
  return args
}
