import { randomToken } from '../../lib/crypto.ts'
import type * as ir from '../ir.ts'
import { argumentsObject, sanitizeToolId } from '../media.ts'
import { packSignature, signedCallId } from '../signatures.ts'
import { flatToolName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions } from '../types.ts'
import { ANTHROPIC } from './request.ts'
import { ANTHROPIC_FINISH, anthropicUsage, anthropicUsageJson, FINISH_TO_ANTHROPIC } from './usage.ts'

type Json = ir.Json

const TOOL_USE_FIELDS = new Set(['type', 'id', 'name', 'input'])

/** One content block of an answer as a part; null for blocks only Anthropic clients can use (server tools). */
export function blockPart(b: Json, provider: string): ir.AssistantPart | null {
  const origin = { protocol: ANTHROPIC, provider }
  switch (b?.type) {
    case 'text':
      return { type: 'text', text: String(b.text ?? ''), ...(Array.isArray(b.citations) && b.citations.length > 0 ? { citations: { origin, items: b.citations } } : {}) }
    case 'thinking':
      return { type: 'reasoning', text: String(b.thinking ?? ''), ...(b.signature ? { signature: { origin, value: String(b.signature) } } : {}) }
    case 'redacted_thinking':
      return { type: 'reasoning', text: '', redacted: String(b.data ?? ''), signature: { origin, value: '' } }
    case 'tool_use': {
      const fields: Json = {}
      for (const [k, v] of Object.entries(b)) if (!TOOL_USE_FIELDS.has(k)) fields[k] = v
      return {
        type: 'tool_call', id: String(b.id ?? ''), name: String(b.name ?? ''), input: JSON.stringify(b.input ?? {}), kind: 'function',
        ...(Object.keys(fields).length > 0 ? { extra: { origin, fields } } : {}),
      }
    }
    default:
      return null
  }
}

/** A Messages answer in the internal representation. */
export function decodeResponse(message: Json, options: DecodeOptions): ir.Response {
  const content = ((Array.isArray(message.content) ? message.content : []) as Json[]).map((b) => blockPart(b, options.provider)).filter((p): p is ir.AssistantPart => p !== null)
  const usage = anthropicUsage(message.usage)
  return {
    id: String(message.id ?? ''),
    model: typeof message.model === 'string' ? message.model : '',
    content,
    finish: ANTHROPIC_FINISH[message.stop_reason] ?? 'stop',
    rawFinish: message.stop_reason,
    stopSequence: message.stop_sequence ?? null,
    ...(usage ? { usage } : {}),
  }
}

export function messageId(id: string): string {
  return id.startsWith('msg_') ? id : `msg_${id.replace(/^(chatcmpl-|resp_)/, '') || randomToken()}`
}

/** A signature for an Anthropic client: its own as it is, another protocol's packed with its origin. */
export function signatureFor(signature: ir.Signature | undefined): string {
  if (!signature) return ''
  return signature.origin.protocol === ANTHROPIC ? signature.value : packSignature(signature)
}

/** A part as a content block for an Anthropic client. */
export function partBlock(p: ir.AssistantPart): Json {
  switch (p.type) {
    case 'text':
      return { type: 'text', text: p.text, ...(p.citations?.origin.protocol === ANTHROPIC ? { citations: p.citations.items } : {}) }
    case 'refusal':
      return { type: 'text', text: p.text }
    case 'reasoning':
      if (p.redacted !== undefined && p.signature?.origin.protocol === ANTHROPIC) return { type: 'redacted_thinking', data: p.redacted }
      return { type: 'thinking', thinking: p.text, signature: signatureFor(p.signature) }
    case 'tool_call': {
      const extra = p.extra?.origin.protocol === ANTHROPIC ? p.extra.fields : {}
      const input = p.kind === 'custom' ? { input: p.input } : argumentsObject(p.input)
      return { type: 'tool_use', id: sanitizeToolId(signedCallId(p.id, p.signature, ANTHROPIC)), name: flatToolName(p.name, p.namespace), input, ...extra }
    }
  }
}

/** The internal representation as a Messages answer. */
export function encodeResponse(response: ir.Response, options: ReplyOptions): Json {
  return {
    id: messageId(response.id),
    type: 'message',
    role: 'assistant',
    model: response.model || options.model,
    content: response.content.map(partBlock),
    stop_reason: FINISH_TO_ANTHROPIC[response.finish],
    stop_sequence: null,
    usage: anthropicUsageJson(response.usage),
  }
}
