import { anthropic } from './anthropic/index.ts'
import { gemini } from './gemini/index.ts'
import { openaiChat } from './openai-chat/index.ts'
import { openaiResponses } from './openai-responses/index.ts'
import type { Operation, WireProtocol } from './types.ts'

/** Every wire protocol the gateway speaks, to clients and to upstreams. Adding one is one folder and one line here. */
export const protocols: readonly WireProtocol[] = [openaiChat, openaiResponses, anthropic, gemini]

const byOperation = new Map<Operation, WireProtocol>(protocols.map((p) => [p.operation, p]))
const byId = new Map<string, WireProtocol>(protocols.map((p) => [p.id, p]))

/** The protocol whose generation route an operation is; null for operations outside the hub (embeddings, token counting). */
export function protocolForOperation(operation: Operation): WireProtocol | null {
  return byOperation.get(operation) ?? null
}

export function protocolById(id: string): WireProtocol {
  const p = byId.get(id)
  if (!p) throw new Error(`unknown protocol ${id}`)
  return p
}

/** How usage is read from the answer of an operation outside the hub (embeddings answer in chat's usage shape). */
export function usageForOperation(operation: Operation): WireProtocol['usage'] | null {
  return operation === 'embeddings' ? openaiChat.usage : null
}
