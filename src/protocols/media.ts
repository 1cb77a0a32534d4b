import { randomToken } from '../lib/crypto.ts'
import { TranslationError, type FilePart, type ImagePart } from './ir.ts'

/** An image or file given as a URL (data: or http) in the IR's terms. */
export function sourceFromUrl(url: string): ImagePart['source'] {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (data) return { kind: 'base64', mediaType: data[1]!, data: data[2]! }
  if (/^https?:\/\//.test(url)) return { kind: 'url', url }
  throw new TranslationError('An image or file URL must be an http(s) URL or a base64 data: URL.', 'messages')
}

/** An IR image or file source as a URL (data: for base64); null for a file id or text. */
export function urlOfSource(source: ImagePart['source'] | FilePart['source']): string | null {
  if (source.kind === 'base64') return `data:${source.mediaType};base64,${source.data}`
  if (source.kind === 'url') return source.url
  return null
}

const TOOL_ID = /^[a-zA-Z0-9_-]+$/

/**
 * Anthropic accepts only `[a-zA-Z0-9_-]` in tool ids; other providers emit ids like
 * `functions.Read:0`. The same function is applied to a call's id and its result's, so they still
 * match after the change.
 */
export function sanitizeToolId(id: unknown): string {
  const text = typeof id === 'string' ? id : ''
  if (TOOL_ID.test(text)) return text
  const cleaned = text.replace(/[^a-zA-Z0-9_-]/g, '_')
  return cleaned || 'toolu_' + randomToken().toLowerCase()
}


/** A tool call's argument text as a JSON object, for protocols that carry arguments as objects. */
export function argumentsObject(text: string, onInvalid?: () => void): Record<string, unknown> {
  if (text.trim() === '') return {}
  try {
    const parsed = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed
  } catch {
    // fall through
  }
  // A truncated or invalid argument string cannot become an object; the call is kept with {}.
  onInvalid?.()
  return {}
}

/**
 * Reads one token count of an upstream's usage. The gateway passes one that bounds and reports
 * absurd values; by default anything that is not a non-negative integer counts as zero.
 */
export type Count = (value: unknown, field: string) => number

export const plainCount: Count = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0)
