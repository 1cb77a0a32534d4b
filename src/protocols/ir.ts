/**
 * The internal representation every translation goes through: a client's request is decoded into
 * it once and encoded for the upstream once; an upstream's answer and stream the same way back.
 * It is shaped after what the four wire protocols (OpenAI chat, OpenAI Responses, Anthropic
 * Messages, Gemini) can say, so none of them needs to know another.
 */

export type Json = Record<string, any>

/** Where a part came from, for fields only the same protocol can use (signatures, encrypted reasoning). */
export interface Origin {
  protocol: string
  /** The provider that produced it, when the value is only valid there (reasoning signatures). */
  provider?: string
}

export interface TextPart {
  type: 'text'
  text: string
  /** Anthropic prompt-cache breakpoint on this part. */
  cache?: boolean
  /** Citations as the producing protocol gave them (replayed to the same protocol only). */
  citations?: { origin: Origin; items: unknown[] }
}

export interface ImagePart {
  type: 'image'
  /** An http(s) URL, or base64 data with its media type. */
  source: { kind: 'url'; url: string } | { kind: 'base64'; mediaType: string; data: string } | { kind: 'file_id'; id: string }
  detail?: string
}

export interface FilePart {
  type: 'file'
  source: { kind: 'url'; url: string } | { kind: 'base64'; mediaType: string; data: string } | { kind: 'file_id'; id: string } | { kind: 'text'; text: string }
  filename?: string
}

export interface Signature {
  origin: Origin
  value: string
  /** The item id the producer gave it (Responses reasoning items need theirs back). */
  id?: string
}

export interface ReasoningPart {
  type: 'reasoning'
  /** The visible reasoning (or its summary). */
  text: string
  /**
   * What the producer needs to accept it back (Anthropic's signature, Responses' encrypted
   * content, Gemini's thoughtSignature); only ever sent back to the same protocol and provider.
   */
  signature?: Signature
  /** Anthropic `redacted_thinking` data: no text, only the opaque blob. */
  redacted?: string
}

export interface ToolCallPart {
  type: 'tool_call'
  id: string
  name: string
  /** The arguments as JSON text (a function tool) or the raw input (a custom/freeform tool). */
  input: string
  /** `custom`: a freeform tool whose input is one string (Codex's `apply_patch`). */
  kind: 'function' | 'custom'
  /** Responses namespaces (`multi_agent_v1`, MCP servers): part of the tool's identity. */
  namespace?: string
  /** Block fields only the producing protocol knows (`caller` on Anthropic tool_use). */
  extra?: { origin: Origin; fields: Json }
  /** Gemini's `thoughtSignature` on a function call: goes back only to where it came from. */
  signature?: Signature
}

export interface ToolResultPart {
  type: 'tool_result'
  callId: string
  /** The tool's name, when the protocol says it (Gemini matches results by name). */
  name?: string
  content: Array<TextPart | ImagePart | FilePart>
  isError?: boolean
  kind?: 'function' | 'custom'
}

export type UserPart = TextPart | ImagePart | FilePart
export type AssistantPart = TextPart | ReasoningPart | ToolCallPart | RefusalPart

export interface RefusalPart {
  type: 'refusal'
  text: string
}

export type Message =
  | { role: 'system'; content: TextPart[] }
  | { role: 'user'; content: UserPart[] }
  | { role: 'assistant'; content: AssistantPart[] }
  | { role: 'tool'; content: ToolResultPart[] }

export interface FunctionTool {
  kind: 'function'
  name: string
  description?: string
  /** JSON Schema of the arguments. */
  parameters: Json
  strict?: boolean
  namespace?: string
}

export interface CustomTool {
  kind: 'custom'
  name: string
  description?: string
  /** Responses' grammar or text format, kept for an upstream that enforces it. */
  format?: Json
  namespace?: string
}

export type Tool = FunctionTool | CustomTool

export type ToolChoice = { type: 'auto' } | { type: 'none' } | { type: 'required' } | { type: 'tool'; name: string; namespace?: string }

export type OutputFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name?: string; schema: Json; strict?: boolean; description?: string }

export interface Reasoning {
  /** `none` | `minimal` | `low` | `medium` | `high` | `xhigh` | `max` */
  effort?: string
  /** A token budget, where the client gave one (Anthropic, Gemini). */
  budgetTokens?: number
  /** Responses' summary setting (`auto`, `concise`, `detailed`). */
  summary?: string
  /** Thinking explicitly off. */
  disabled?: boolean
}

/** A generation request in no protocol's shape. */
export interface Request {
  model: string
  messages: Message[]
  tools: Tool[]
  toolChoice?: ToolChoice
  parallelToolCalls?: boolean
  maxOutputTokens?: number
  temperature?: number
  topP?: number
  topK?: number
  stop?: string[]
  format?: OutputFormat
  reasoning?: Reasoning
  /** The end user, for abuse monitoring (`user`, `metadata.user_id`, `safety_identifier`). */
  user?: string
  metadata?: Record<string, string>
  stream: boolean
  /** The client wants reasoning in a form it can send back (Responses `include: reasoning.encrypted_content`). */
  includeEncryptedReasoning?: boolean
  promptCacheKey?: string
  verbosity?: string
  /** Fields of the client's protocol that had no place here; reported, never sent elsewhere. */
  dropped: string[]
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other'

/** Token counts. `input` includes cache reads and writes (OpenAI's convention). */
export interface Usage {
  input: number
  output: number
  cacheRead: number
  cacheWrite: number
  reasoning: number
}

/** A whole answer in no protocol's shape. */
export interface Response {
  id: string
  model: string
  content: AssistantPart[]
  finish: FinishReason
  /** The upstream's own stop reason, for a same-family client (`stop_sequence`, `pause_turn`). */
  rawFinish?: string
  stopSequence?: string | null
  usage?: Usage
  created?: number
}

/**
 * Stream events. Parts are numbered in order of appearance; a part is opened, receives deltas and
 * is closed, and only one part of each kind need be open at a time. Tool calls count among parts.
 */
export type StreamEvent =
  | { type: 'start'; id?: string; model?: string; usage?: Partial<Usage> }
  | { type: 'part_start'; index: number; part: 'text' | 'reasoning' | 'refusal' }
  | { type: 'part_start'; index: number; part: 'tool_call'; id: string; name: string; kind: 'function' | 'custom'; namespace?: string; extra?: ToolCallPart['extra']; signature?: Signature }
  | { type: 'delta'; index: number; text: string }
  /** A reasoning part's signature (or encrypted content), once known. */
  | { type: 'signature'; index: number; signature: Signature }
  | { type: 'citation'; index: number; origin: Origin; citation: unknown }
  | { type: 'part_end'; index: number }
  | { type: 'usage'; usage: Partial<Usage> }
  | { type: 'finish'; reason: FinishReason; rawReason?: string; stopSequence?: string | null; usage?: Partial<Usage> }
  | { type: 'error'; kind: string; message: string }

export const emptyUsage = (): Usage => ({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 })

/** A request the target protocol cannot express; the client gets a 400 with this message. */
export class TranslationError extends Error {
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message)
  }
}
