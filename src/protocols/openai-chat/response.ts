import { randomToken } from '../../lib/crypto.ts'
import type * as ir from '../ir.ts'

import { signedCallId } from '../signatures.ts'
import { flatToolName } from '../tool-names.ts'

export const CHAT = 'openai-chat'
import type { DecodeOptions, ReplyOptions } from '../types.ts'
import { openaiTextParts } from './text-parts.ts'
import { CHAT_FINISH, chatUsage, chatUsageJson, FINISH_TO_CHAT } from './usage.ts'

type Json = ir.Json

/** A chat completion (its first choice) in the internal representation. */
export function decodeResponse(completion: Json, _options: DecodeOptions): ir.Response {
  const choice = completion.choices?.[0] ?? {}
  const message = choice.message ?? {}
  const content: ir.AssistantPart[] = []
  const { reasoning, text, refusal } = openaiTextParts(message)
  if (reasoning) content.push({ type: 'reasoning', text: reasoning })
  if (text) content.push({ type: 'text', text })
  if (refusal) content.push({ type: 'refusal', text: refusal })
  for (const call of (message.tool_calls ?? []) as Json[]) {
    if (call?.type === 'custom') content.push({ type: 'tool_call', id: String(call.id ?? ''), name: call.custom?.name ?? '', input: String(call.custom?.input ?? ''), kind: 'custom' })
    else content.push({ type: 'tool_call', id: String(call?.id ?? ''), name: call?.function?.name ?? '', input: String(call?.function?.arguments ?? ''), kind: 'function' })
  }
  const usage = chatUsage(completion.usage)
  return {
    id: String(completion.id ?? ''),
    model: typeof completion.model === 'string' ? completion.model : '',
    content,
    finish: CHAT_FINISH[choice.finish_reason] ?? (content.some((p) => p.type === 'tool_call') ? 'tool_calls' : 'stop'),
    rawFinish: choice.finish_reason,
    ...(usage ? { usage } : {}),
    ...(typeof completion.created === 'number' ? { created: completion.created } : {}),
  }
}

export function chatToolCall(p: ir.ToolCallPart): Json {
  const id = signedCallId(p.id, p.signature, CHAT)
  if (p.kind === 'custom') return { id, type: 'custom', custom: { name: p.name, input: p.input } }
  return { id, type: 'function', function: { name: flatToolName(p.name, p.namespace), arguments: p.input.trim() ? p.input : '{}' } }
}

export function chatId(id: string): string {
  return id.startsWith('chatcmpl-') ? id : `chatcmpl-${id.replace(/^(msg_|resp_)/, '') || randomToken()}`
}

/** The internal representation as a chat completion. */
export function encodeResponse(response: ir.Response, options: ReplyOptions): Json {
  let text = ''
  let reasoning = ''
  let refusal = ''
  const calls: Json[] = []
  for (const p of response.content) {
    if (p.type === 'text') text += p.text
    else if (p.type === 'reasoning') reasoning += p.text
    else if (p.type === 'refusal') refusal += p.text
    else calls.push(chatToolCall(p))
  }
  return {
    id: chatId(response.id),
    object: 'chat.completion',
    created: response.created ?? Math.floor(Date.now() / 1000),
    model: response.model || options.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text || (calls.length > 0 || refusal ? null : ''),
          refusal: refusal || null,
          ...(reasoning ? { reasoning_content: reasoning } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        finish_reason: FINISH_TO_CHAT[response.finish],
        logprobs: null,
      },
    ],
    usage: chatUsageJson(response.usage),
  }
}
