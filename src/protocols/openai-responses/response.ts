import type * as ir from '../ir.ts'

import { packSignature, signedCallId, unpackSignature } from '../signatures.ts'
import { customInput, flatToolName, toolByFlatName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions } from '../types.ts'
import { RESPONSES } from './request.ts'
import { responsesUsage, responsesUsageJson } from './usage.ts'

type Json = ir.Json

/**
 * A reasoning item as a part. Its encrypted content is kept as a signature: one the gateway packed
 * says where it came from; any other is this protocol's own (of `provider`, for an upstream's answer).
 */
export function reasoningFromItem(item: Json, provider?: string): ir.ReasoningPart {
  const summary = Array.isArray(item.summary) ? (item.summary as Json[]).map((s) => String(s?.text ?? '')).filter(Boolean) : []
  const raw = Array.isArray(item.content) ? (item.content as Json[]).map((c) => String(c?.text ?? '')).filter(Boolean) : []
  const part: ir.ReasoningPart = { type: 'reasoning', text: (summary.length > 0 ? summary : raw).join('\n\n') }
  if (typeof item.encrypted_content === 'string' && item.encrypted_content) {
    part.signature = unpackSignature(item.encrypted_content) ?? {
      origin: { protocol: RESPONSES, ...(provider !== undefined ? { provider } : {}) },
      value: item.encrypted_content,
      ...(typeof item.id === 'string' ? { id: item.id } : {}),
    }
  }
  return part
}

/** A Responses answer in the internal representation. */
export function decodeResponse(body: Json, options: DecodeOptions): ir.Response {
  const content: ir.AssistantPart[] = []
  for (const item of (Array.isArray(body.output) ? body.output : []) as Json[]) {
    switch (item?.type) {
      case 'message':
        for (const c of (Array.isArray(item.content) ? item.content : []) as Json[]) {
          if (c?.type === 'output_text' && c.text) content.push({ type: 'text', text: String(c.text) })
          else if (c?.type === 'refusal' && c.refusal) content.push({ type: 'refusal', text: String(c.refusal) })
        }
        break
      case 'reasoning':
        content.push(reasoningFromItem(item, options.provider))
        break
      case 'function_call':
        content.push({ type: 'tool_call', id: String(item.call_id ?? item.id ?? ''), name: String(item.name ?? ''), input: String(item.arguments ?? ''), kind: 'function', ...(item.namespace ? { namespace: String(item.namespace) } : {}) })
        break
      case 'custom_tool_call':
        content.push({ type: 'tool_call', id: String(item.call_id ?? item.id ?? ''), name: String(item.name ?? ''), input: String(item.input ?? ''), kind: 'custom', ...(item.namespace ? { namespace: String(item.namespace) } : {}) })
        break
    }
  }
  const usage = responsesUsage(body.usage)
  return {
    id: String(body.id ?? ''),
    model: typeof body.model === 'string' ? body.model : '',
    content,
    finish: finishOf(body.status, body.incomplete_details?.reason, content),
    ...(usage ? { usage } : {}),
    ...(typeof body.created_at === 'number' ? { created: body.created_at } : {}),
  }
}

export function finishOf(status: unknown, reason: unknown, content: readonly ir.AssistantPart[]): ir.FinishReason {
  if (status === 'incomplete') return reason === 'content_filter' ? 'content_filter' : 'length'
  if (status === 'failed') return 'error'
  return content.some((p) => p.type === 'tool_call') ? 'tool_calls' : 'stop'
}

/**
 * An output item's id names the response it belongs to and its place there (`msg_<response>_<n>`),
 * so that an `item_reference` to it can be resolved from the kept response alone.
 */
export const itemId = (prefix: string, responseId: string, index: number) => `${prefix}_${responseId.replace(/^resp_/, '')}_${index}`

/** The response an item id of ours belongs to, or null for any other id. */
export function responseOfItem(id: string): string | null {
  const m = /^(?:msg|fc|ctc|rs)_([a-zA-Z0-9]+)_\d+$/.exec(id)
  return m ? `resp_${m[1]}` : null
}

/** Encrypted content for a Responses client: its own as it is; another protocol's packed with its origin. */
export function encryptedFor(signature: ir.Signature): string {
  return signature.origin.protocol === RESPONSES ? signature.value : packSignature(signature)
}

/** A tool call as the client declared its tool: a freeform tool's input unwrapped, a namespace restored. */
export function callItem(p: ir.ToolCallPart, tools: readonly ir.Tool[], id: string, status = 'completed'): Json {
  const tool = toolByFlatName(tools, flatToolName(p.name, p.namespace))
  const name = tool?.name ?? p.name
  const namespace = tool ? tool.namespace : p.namespace
  const ns = namespace ? { namespace } : {}
  if (tool?.kind === 'custom' || (!tool && p.kind === 'custom')) {
    return { id, type: 'custom_tool_call', status, call_id: signedCallId(p.id, p.signature, RESPONSES), name, input: p.kind === 'custom' ? p.input : customInput(p.input), ...ns }
  }
  return { id, type: 'function_call', status, call_id: signedCallId(p.id, p.signature, RESPONSES), name, arguments: p.input.trim() ? p.input : '{}', ...ns }
}

export function reasoningItem(p: ir.ReasoningPart, id: string, includeEncrypted: boolean): Json {
  const item: Json = { id, type: 'reasoning', summary: p.text ? [{ type: 'summary_text', text: p.text }] : [] }
  if (includeEncrypted && p.signature?.value) item.encrypted_content = encryptedFor(p.signature)
  return item
}

/** The response fields that echo the request, as OpenAI's own response object has them. */
export function echoFields(body: Json): Json {
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: body.reasoning ?? null,
    store: body.store ?? true,
    temperature: body.temperature ?? null,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? null,
    truncation: body.truncation ?? 'disabled',
    user: body.user ?? null,
  }
}

/** The status, details and error of a finished response. */
export function outcomeFields(finish: ir.FinishReason, error?: { code: string; message: string }): Json {
  if (finish === 'error') return { status: 'failed', incomplete_details: null, error: error ?? { code: 'server_error', message: 'The upstream failed.' } }
  if (finish === 'length' || finish === 'content_filter') {
    return { status: 'incomplete', incomplete_details: { reason: finish === 'length' ? 'max_output_tokens' : 'content_filter' }, error: null }
  }
  return { status: 'completed', incomplete_details: null, error: null }
}

/** The internal representation as a Responses answer. */
export function encodeResponse(response: ir.Response, options: ReplyOptions): Json {
  const tools = options.request?.tools ?? []
  const includeEncrypted = options.request?.includeEncryptedReasoning === true
  const output: Json[] = []
  let message: Json | null = null
  for (const p of response.content) {
    if (p.type === 'text' || p.type === 'refusal') {
      if (!message) {
        message = { id: itemId('msg', options.responseId, output.length), type: 'message', status: 'completed', role: 'assistant', content: [] }
        output.push(message)
      }
      message.content.push(p.type === 'text' ? { type: 'output_text', text: p.text, annotations: [], logprobs: [] } : { type: 'refusal', refusal: p.text })
      continue
    }
    message = null
    if (p.type === 'reasoning') output.push(reasoningItem(p, p.signature?.id && p.signature.origin.protocol === RESPONSES ? p.signature.id : itemId('rs', options.responseId, output.length), includeEncrypted))
    else output.push(callItem(p, tools, itemId(p.kind === 'custom' ? 'ctc' : 'fc', options.responseId, output.length)))
  }
  const answer = {
    id: options.responseId,
    object: 'response',
    created_at: response.created ?? Math.floor(Date.now() / 1000),
    model: options.model,
    output,
    ...outcomeFields(response.finish),
    ...options.state,
    usage: responsesUsageJson(response.usage),
  }
  options.onAnswer?.(answer)
  return answer
}

