import { randomToken } from '../../lib/crypto.ts'
import * as ir from '../ir.ts'
import { argumentsObject } from '../media.ts'
import { splitCallId, unpackSignature, validFor } from '../signatures.ts'
import { CUSTOM_TOOL_SCHEMA, flatToolName } from '../tool-names.ts'
import type { EncodeOptions } from '../types.ts'

type Json = ir.Json

export const GEMINI = 'gemini'

/** What Gemini 3 accepts on a first function call that has no signature of its own (gemini-cli does the same). */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator'

// Request fields only Gemini itself can use.
const UNTRANSLATABLE = ['safetySettings', 'cachedContent', 'labels']
const GENERATION_UNTRANSLATABLE = ['presencePenalty', 'frequencyPenalty', 'seed', 'responseModalities', 'responseLogprobs', 'logprobs', 'mediaResolution', 'speechConfig']

/** A signature on a part: the gateway's packed one says where it came from; a bare one is Gemini's own. */
function signatureOf(value: unknown): ir.Signature | undefined {
  if (typeof value !== 'string' || !value || value === SKIP_SIGNATURE) return undefined
  return unpackSignature(value) ?? { origin: { protocol: GEMINI }, value }
}

function mediaPart(mimeType: string, source: ir.ImagePart['source']): ir.UserPart {
  return mimeType.startsWith('image/') ? { type: 'image', source } : { type: 'file', source }
}

/** The text of a function's result: its `output` (or `result`) when it is text, else the whole JSON. */
function resultText(response: unknown): string {
  const r = response as Json
  if (r && typeof r === 'object') {
    for (const key of ['output', 'result', 'content']) if (typeof r[key] === 'string') return r[key]
  }
  return JSON.stringify(response ?? {})
}

/**
 * A generateContent request in the internal representation. Function calls carry no ids in
 * Gemini: they are given ones made of their turn and position, and each functionResponse is
 * matched to the call of the same name, in order.
 */
export function decodeRequest(body: Json): ir.Request {
  const dropped: string[] = []
  const messages: ir.Message[] = []
  const system = (body.systemInstruction?.parts ?? []) as Json[]
  const systemText = system.filter((p) => typeof p?.text === 'string' && p.text).map((p): ir.TextPart => ({ type: 'text', text: p.text }))
  if (systemText.length > 0) messages.push({ role: 'system', content: systemText })

  // Calls waiting for their response, by name, in order.
  let waiting = new Map<string, string[]>()
  coalesce((Array.isArray(body.contents) ? body.contents : []) as Json[]).forEach((content, turn) => {
    const parts = (Array.isArray(content?.parts) ? content.parts : []) as Json[]
    if (content?.role === 'model') {
      const out: ir.AssistantPart[] = []
      waiting = new Map()
      parts.forEach((p, i) => {
        if (p?.functionCall) {
          const fc = p.functionCall
          const split = typeof fc.id === 'string' && fc.id ? splitCallId(fc.id) : { id: `call_${turn}_${i}` }
          const signature = split.signature ?? signatureOf(p.thoughtSignature)
          const name = String(fc.name ?? '')
          out.push({ type: 'tool_call', id: split.id, name, input: JSON.stringify(fc.args ?? {}), kind: 'function', ...(signature ? { signature } : {}) })
          waiting.set(name, [...(waiting.get(name) ?? []), split.id])
        } else if (typeof p?.text === 'string') {
          const signature = signatureOf(p.thoughtSignature)
          if (p.thought === true) out.push({ type: 'reasoning', text: p.text, ...(signature ? { signature } : {}) })
          else if (p.text) out.push({ type: 'text', text: p.text })
        } else if (p?.executableCode || p?.codeExecutionResult) {
          dropped.push('code execution parts')
        }
      })
      if (out.length > 0) messages.push({ role: 'assistant', content: joinAdjacent(out) })
      return
    }
    const user: ir.UserPart[] = []
    const results: ir.ToolResultPart[] = []
    for (const p of parts) {
      if (p?.functionResponse) {
        const fr = p.functionResponse
        const name = String(fr.name ?? '')
        const queue = waiting.get(name)
        const callId = typeof fr.id === 'string' && fr.id ? splitCallId(fr.id).id : (queue?.shift() ?? `call_${name}_${randomToken(8)}`)
        const isError = fr.response && typeof fr.response === 'object' && 'error' in fr.response && !('output' in fr.response)
        results.push({ type: 'tool_result', callId, name, content: [{ type: 'text', text: isError ? resultText({ output: fr.response.error }) : resultText(fr.response) }], ...(isError ? { isError: true } : {}) })
      } else if (typeof p?.text === 'string') {
        if (p.text) user.push({ type: 'text', text: p.text })
      } else if (p?.inlineData) {
        const mime = String(p.inlineData.mimeType ?? 'application/octet-stream')
        user.push(mediaPart(mime, { kind: 'base64', mediaType: mime, data: String(p.inlineData.data ?? '') }))
      } else if (p?.fileData) {
        const mime = String(p.fileData.mimeType ?? '')
        user.push(mediaPart(mime, { kind: 'url', url: String(p.fileData.fileUri ?? '') }))
      } else dropped.push('parts of an unknown kind')
    }
    if (results.length > 0) messages.push({ role: 'tool', content: results })
    if (user.length > 0) messages.push({ role: 'user', content: user })
  })

  const tools: ir.Tool[] = []
  for (const t of (Array.isArray(body.tools) ? body.tools : []) as Json[]) {
    if (Array.isArray(t?.functionDeclarations)) {
      for (const f of t.functionDeclarations as Json[]) {
        tools.push({ kind: 'function', name: String(f.name), ...(f.description ? { description: f.description } : {}), parameters: f.parametersJsonSchema ?? openApiToJsonSchema(f.parameters) ?? { type: 'object', properties: {} } })
      }
    } else {
      // Google Search, code execution, URL context run at Google: nothing to send elsewhere.
      dropped.push(`tools[] ${Object.keys(t ?? {}).join(',')}`)
    }
  }

  const g = (body.generationConfig ?? {}) as Json
  if (typeof g.candidateCount === 'number' && g.candidateCount > 1) throw new ir.TranslationError('candidateCount > 1 is not supported by this provider.', 'generationConfig.candidateCount')
  const request: ir.Request = { model: '', messages, tools, stream: false, dropped }
  const mode = body.toolConfig?.functionCallingConfig?.mode
  const allowed = body.toolConfig?.functionCallingConfig?.allowedFunctionNames
  if (mode === 'NONE') request.toolChoice = { type: 'none' }
  else if (mode === 'ANY') request.toolChoice = Array.isArray(allowed) && allowed.length === 1 ? { type: 'tool', name: String(allowed[0]) } : { type: 'required' }
  else if (mode === 'AUTO') request.toolChoice = { type: 'auto' }
  if (typeof g.maxOutputTokens === 'number') request.maxOutputTokens = g.maxOutputTokens
  if (typeof g.temperature === 'number') request.temperature = g.temperature
  if (typeof g.topP === 'number') request.topP = g.topP
  if (typeof g.topK === 'number') request.topK = g.topK
  if (Array.isArray(g.stopSequences) && g.stopSequences.length > 0) request.stop = g.stopSequences
  const schema = g.responseJsonSchema ?? openApiToJsonSchema(g.responseSchema)
  if (schema) request.format = { type: 'json_schema', schema }
  else if (g.responseMimeType === 'application/json') request.format = { type: 'json_object' }
  const thinking = g.thinkingConfig
  if (thinking && typeof thinking === 'object') {
    if (thinking.thinkingBudget === 0) request.reasoning = { disabled: true }
    else if (typeof thinking.thinkingLevel === 'string') request.reasoning = { effort: thinking.thinkingLevel.toLowerCase() }
    else if (typeof thinking.thinkingBudget === 'number' && thinking.thinkingBudget > 0) request.reasoning = { budgetTokens: thinking.thinkingBudget }
  }
  for (const f of UNTRANSLATABLE) if (body[f] !== undefined) dropped.push(f)
  for (const f of GENERATION_UNTRANSLATABLE) if (g[f] !== undefined) dropped.push(`generationConfig.${f}`)
  return request
}

/**
 * Consecutive contents of one role are one turn (the GenAI SDK's chat session sends a streamed
 * answer back as one content per chunk; Gemini CLI merges them itself).
 */
function coalesce(contents: Json[]): Json[] {
  const out: Json[] = []
  for (const c of contents) {
    const last = out.at(-1)
    const parts = Array.isArray(c?.parts) ? c.parts : []
    if (last && last.role === c?.role) last.parts = [...last.parts, ...parts]
    else out.push({ role: c?.role, parts: [...parts] })
  }
  return out
}

/**
 * Text streamed in pieces is one text part again, and thoughts one reasoning part with the
 * signature that came with them (a signature may come on a part of its own, after the text).
 */
function joinAdjacent(parts: ir.AssistantPart[]): ir.AssistantPart[] {
  const out: ir.AssistantPart[] = []
  for (const p of parts) {
    const last = out.at(-1)
    if (last && last.type === 'text' && p.type === 'text') last.text += p.text
    else if (last && last.type === 'reasoning' && p.type === 'reasoning' && !last.redacted && !p.redacted) {
      last.text += p.text
      if (p.signature) last.signature = p.signature
    } else out.push({ ...p })
  }
  return out
}

/** Gemini's OpenAPI-subset schema (`type: "OBJECT"`, `nullable`) as JSON Schema. */
export function openApiToJsonSchema(schema: unknown): Json | undefined {
  if (!schema || typeof schema !== 'object') return undefined
  const walk = (node: any): any => {
    if (Array.isArray(node)) return node.map(walk)
    if (!node || typeof node !== 'object') return node
    const out: Json = {}
    for (const [k, v] of Object.entries(node)) {
      if (k === 'type' && typeof v === 'string') out.type = v.toLowerCase()
      else if (k === 'nullable' || k === 'propertyOrdering') continue
      else if (k === 'properties' && v && typeof v === 'object') out.properties = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, walk(s)]))
      else out[k] = walk(v)
    }
    if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null']
    return out
  }
  return walk(schema)
}

/** A JSON Schema as Gemini's `parametersJsonSchema` takes it: no root `$schema`. */
function jsonSchemaFor(schema: Json): Json {
  const { $schema: _drop, ...rest } = schema
  return rest
}

function userParts(parts: ir.UserPart[], dropped: string[]): Json[] {
  const out: Json[] = []
  for (const p of parts) {
    if (p.type === 'text') {
      if (p.text) out.push({ text: p.text })
      continue
    }
    const s = p.source
    if (s.kind === 'base64') out.push({ inlineData: { mimeType: s.mediaType, data: s.data } })
    else if (s.kind === 'url') out.push({ fileData: { fileUri: s.url } })
    else if (s.kind === 'text') out.push({ text: s.text })
    else dropped.push('a file given by id')
  }
  return out
}

const THINKING_BUDGET: Record<string, number> = { minimal: 512, low: 1024, medium: 8192, high: 24576, xhigh: 32768, max: 32768 }

/** Gemini 3 models take a thinking level, earlier ones a budget (never both). */
const levelModel = (model: string) => /gemini-(?:[3-9]|\d\d)/.test(model)

/** The internal representation as a generateContent request. */
export function encodeRequest(request: ir.Request, options: EncodeOptions): Json {
  const dropped = request.dropped
  const system: string[] = []
  const contents: Json[] = []
  const push = (role: 'user' | 'model', parts: Json[]) => {
    if (parts.length === 0) return
    const last = contents.at(-1)
    // Gemini wants turns to alternate: consecutive ones of a role are one turn.
    if (last && last.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }
  const names = new Map<string, string>()
  for (const m of request.messages) {
    switch (m.role) {
      case 'system':
        for (const p of m.content) if (p.text) system.push(p.text)
        break
      case 'user':
        push('user', userParts(m.content, dropped))
        break
      case 'assistant': {
        const parts: Json[] = []
        let firstCall = true
        for (const p of m.content) {
          if (p.type === 'text' || p.type === 'refusal') {
            if (p.text) parts.push({ text: p.text })
          } else if (p.type === 'reasoning') {
            const sig = p.signature && validFor(p.signature.origin, GEMINI, options.provider) ? p.signature.value : null
            // Thoughts from elsewhere mean nothing to Gemini; its own go back with their signature.
            if (sig !== null && p.text) parts.push({ text: p.text, thought: true, thoughtSignature: sig })
            else if (p.text) dropped.push('reasoning from another provider')
          } else {
            names.set(p.id, flatToolName(p.name, p.namespace))
            const args = p.kind === 'custom' ? { input: p.input } : argumentsObject(p.input, () => dropped.push('tool call arguments (not a JSON object)'))
            const own = p.signature && validFor(p.signature.origin, GEMINI, options.provider) ? p.signature.value : null
            // The first call of a model step must carry a signature (Gemini 3); one from elsewhere is not valid.
            const signature = own ?? (firstCall ? SKIP_SIGNATURE : null)
            parts.push({ functionCall: { name: flatToolName(p.name, p.namespace), args }, ...(signature ? { thoughtSignature: signature } : {}) })
            firstCall = false
          }
        }
        push('model', parts)
        break
      }
      case 'tool':
        // Every result of a turn in one user turn, in call order.
        push('user', m.content.map((r) => {
          const text = r.content.filter((c): c is ir.TextPart => c.type === 'text').map((c) => c.text).join('\n')
          if (r.content.some((c) => c.type !== 'text')) dropped.push('images in tool results')
          return { functionResponse: { name: r.name ?? names.get(r.callId) ?? 'tool', response: r.isError ? { error: text } : { output: text } } }
        }))
        break
    }
  }

  const out: Json = { contents }
  if (system.length > 0) out.systemInstruction = { parts: [{ text: system.join('\n\n') }] }
  if (request.tools.length > 0) {
    out.tools = [{
      functionDeclarations: request.tools.map((t) => ({
        name: flatToolName(t.name, t.namespace),
        ...(t.description ? { description: t.description } : {}),
        parametersJsonSchema: jsonSchemaFor(t.kind === 'function' ? t.parameters : CUSTOM_TOOL_SCHEMA),
      })),
    }]
    const c = request.toolChoice
    if (c) {
      out.toolConfig = {
        functionCallingConfig: c.type === 'tool' ? { mode: 'ANY', allowedFunctionNames: [flatToolName(c.name, c.namespace)] }
          : { mode: c.type === 'required' ? 'ANY' : c.type === 'none' ? 'NONE' : 'AUTO' },
      }
    }
  }
  const g: Json = {}
  if (request.maxOutputTokens !== undefined) g.maxOutputTokens = request.maxOutputTokens
  if (request.temperature !== undefined) g.temperature = request.temperature
  if (request.topP !== undefined) g.topP = request.topP
  if (request.topK !== undefined) g.topK = request.topK
  if (request.stop && request.stop.length > 0) g.stopSequences = request.stop
  const f = request.format
  if (f?.type === 'json_schema') {
    g.responseMimeType = 'application/json'
    g.responseJsonSchema = jsonSchemaFor(f.schema)
  } else if (f?.type === 'json_object') g.responseMimeType = 'application/json'
  const r = request.reasoning
  if (r?.disabled) {
    if (!levelModel(options.model)) g.thinkingConfig = { thinkingBudget: 0 }
  } else if (r && (r.effort || r.budgetTokens !== undefined)) {
    if (levelModel(options.model) && r.effort) {
      const level = r.effort === 'minimal' ? 'MINIMAL' : r.effort === 'low' ? 'LOW' : r.effort === 'medium' ? 'MEDIUM' : 'HIGH'
      g.thinkingConfig = { thinkingLevel: level, includeThoughts: true }
    } else g.thinkingConfig = { thinkingBudget: r.budgetTokens ?? THINKING_BUDGET[r.effort!] ?? 8192, includeThoughts: true }
  }
  if (Object.keys(g).length > 0) out.generationConfig = g
  if (request.user) dropped.push('user')
  return out
}
