import { describe, expect, test } from 'bun:test'
import { anthropic } from '../../src/protocols/anthropic/index.ts'
import type { Json } from '../../src/protocols/ir.ts'
import { openaiChat } from '../../src/protocols/openai-chat/index.ts'
import { openaiResponses } from '../../src/protocols/openai-responses/index.ts'
import { StreamTranslation, translateResponse } from '../../src/protocols/translate.ts'
import type { ReplyOptions, WireProtocol } from '../../src/protocols/types.ts'

// The Responses protocol's own traps, beyond what the conformance suite's SDK round trips cover:
// Codex's namespace and freeform tools, and reasoning signatures that must go home only.

const CODEX_TOOLS = [
  { type: 'function', name: 'exec_command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } }, strict: false },
  { type: 'namespace', name: 'multi_agent_v1', description: 'agents', tools: [{ type: 'function', name: 'spawn', parameters: { type: 'object', properties: {} } }] },
  { type: 'custom', name: 'apply_patch', description: 'patch files', format: { type: 'grammar', syntax: 'lark', definition: 'start: x' } },
  { type: 'web_search', external_web_access: false },
]

function encodeFor(to: WireProtocol, body: Json, provider = 'p') {
  const decoded = openaiResponses.request.decode(body)
  return { out: to.request.encode(decoded, { model: 'm', provider, stream: false, defaultMaxTokens: 1000 }), decoded }
}

const replyFor = (body: Json): ReplyOptions => {
  const decoded = openaiResponses.request.decode(body)
  return { model: 'm', provider: 'p', request: { tools: decoded.tools, includeEncryptedReasoning: decoded.includeEncryptedReasoning }, state: openaiResponses.replyState(body), responseId: 'resp_test' }
}

/** Runs chat chunks through the chat decoder and the Responses encoder; returns the events. */
function chatToResponses(chunks: Json[], body: Json): Json[] {
  const t = new StreamTranslation(openaiChat.stream.decoder({ provider: 'p' }), openaiResponses.stream.encoder(replyFor(body)))
  let text = ''
  for (const c of chunks) text += t.push(null, JSON.stringify(c))
  text += t.push(null, '[DONE]')
  return text.split('\n\n').filter(Boolean).map((e) => JSON.parse(e.split('\n').find((l) => l.startsWith('data: '))!.slice(6)))
}

const call = (index: number, id: string | undefined, name: string | undefined, args: string) => ({
  id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm',
  choices: [{ index: 0, delta: { tool_calls: [{ index, ...(id ? { id, type: 'function' } : {}), function: { ...(name ? { name } : {}), arguments: args } }] }, finish_reason: null }],
})
const finish = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }

describe('Codex tools through a chat provider', () => {
  test('namespaces are flattened, freeform tools become one-string functions, built-ins are dropped and reported', () => {
    const { out, decoded } = encodeFor(openaiChat, { model: 'x', input: 'hi', tools: CODEX_TOOLS, tool_choice: 'auto' })
    expect(out.tools.map((t: Json) => t.function.name)).toEqual(['exec_command', 'multi_agent_v1__spawn', 'apply_patch'])
    expect(out.tools[2].function.parameters).toMatchObject({ type: 'object', required: ['input'], properties: { input: { type: 'string' } } })
    expect(decoded.dropped).toContain('tools[] of type web_search')
  })

  test('the calls come back to Codex as it declared them: a namespaced function_call, a custom_tool_call with the raw input', () => {
    const patch = '*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch'
    const events = chatToResponses(
      [call(0, 'call_1', 'multi_agent_v1__spawn', '{}'), call(1, 'call_2', 'apply_patch', JSON.stringify({ input: patch }).slice(0, 10)), call(1, undefined, undefined, JSON.stringify({ input: patch }).slice(10)), finish],
      { model: 'x', input: 'hi', tools: CODEX_TOOLS },
    )
    const done = events.filter((e) => e.type === 'response.output_item.done').map((e) => e.item)
    expect(done[0]).toMatchObject({ type: 'function_call', namespace: 'multi_agent_v1', name: 'spawn', call_id: 'call_1', arguments: '{}' })
    expect(done[1]).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch', call_id: 'call_2', input: patch })
    // The freeform input is sent whole, unwrapped, before its done event.
    expect(events.find((e) => e.type === 'response.custom_tool_call_input.delta')).toMatchObject({ delta: patch })
    const completed = events.at(-1)!
    expect(completed.type).toBe('response.completed')
    expect(completed.response.output).toHaveLength(2)
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
  })

  test('history replays: function_call items and their outputs become one assistant message with tool_calls, then tool messages', () => {
    const { out } = encodeFor(openaiChat, {
      model: 'x',
      tools: CODEX_TOOLS,
      input: [
        { role: 'developer', content: 'You are Codex.' },
        { role: 'user', content: [{ type: 'input_text', text: 'fix it' }] },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'thinking' }], encrypted_content: 'gAAAA-foreign' },
        { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'exec_command', arguments: '{"cmd":"ls"}' },
        { type: 'custom_tool_call', id: 'ctc_1', call_id: 'call_2', name: 'apply_patch', input: 'PATCH' },
        { type: 'function_call_output', call_id: 'call_1', output: 'a.txt' },
        { type: 'custom_tool_call_output', call_id: 'call_2', output: 'Done!' },
      ],
    })
    expect(out.messages).toEqual([
      { role: 'system', content: 'You are Codex.' },
      { role: 'user', content: 'fix it' },
      { role: 'assistant', content: null, tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'exec_command', arguments: '{"cmd":"ls"}' } },
        { id: 'call_2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"PATCH"}' } },
      ] },
      { role: 'tool', tool_call_id: 'call_1', content: 'a.txt' },
      { role: 'tool', tool_call_id: 'call_2', content: 'Done!' },
    ])
  })

  test('a previous_response_id that reaches a translation (nothing kept) is a clear not-found, not a silent loss of history', () => {
    expect(() => encodeFor(openaiChat, { model: 'x', input: 'more', previous_response_id: 'resp_1' })).toThrow(/Previous response with id 'resp_1' not found/)
  })
})

describe('reasoning signatures go home only', () => {
  const thinking = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', stop_reason: 'end_turn', content: [{ type: 'thinking', thinking: 'hmm', signature: 'ErUBsig' }, { type: 'text', text: 'ok' }], usage: { input_tokens: 1, output_tokens: 1 } }
  const body = { model: 'x', input: 'hi', include: ['reasoning.encrypted_content'] }

  test('an Anthropic signature reaches a Responses client packed, and goes back to the same Anthropic provider unchanged', () => {
    const answer = translateResponse(anthropic, openaiResponses, thinking, { provider: 'claude-a' }, replyFor(body))
    const reasoning = answer.output.find((i: Json) => i.type === 'reasoning')
    expect(reasoning.summary).toEqual([{ type: 'summary_text', text: 'hmm' }])
    expect(reasoning.encrypted_content).not.toBe('ErUBsig')
    const next = { model: 'x', input: [{ role: 'user', content: 'hi' }, reasoning, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'again' }] }
    const same = encodeFor(anthropic, next, 'claude-a').out
    expect(same.messages[1].content[0]).toEqual({ type: 'thinking', thinking: 'hmm', signature: 'ErUBsig' })
    // Another provider never sees it.
    const other = encodeFor(anthropic, next, 'claude-b').out
    expect(JSON.stringify(other)).not.toContain('ErUBsig')
    expect(other.messages[1].content.some((b: Json) => b.type === 'thinking')).toBe(false)
  })

  test('without include: reasoning.encrypted_content no encrypted content is invented', () => {
    const answer = translateResponse(anthropic, openaiResponses, thinking, { provider: 'claude-a' }, replyFor({ model: 'x', input: 'hi' }))
    expect(answer.output.find((i: Json) => i.type === 'reasoning').encrypted_content).toBeUndefined()
  })
})
