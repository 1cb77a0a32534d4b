import type * as ir from '../ir.ts'
import { argumentsObject } from '../media.ts'
import { packSignature } from '../signatures.ts'
import { flatToolName } from '../tool-names.ts'
import type { DecodeOptions, ReplyOptions } from '../types.ts'
import { GEMINI } from './request.ts'
import { FINISH_TO_GEMINI, geminiFinish, geminiUsage, geminiUsageJson } from './usage.ts'

type Json = ir.Json

/** The parts of one candidate as IR parts; calls without ids get ones made of the answer's id and their position. */
export function partsOf(parts: Json[], provider: string, idBase: string, callsBefore = 0): ir.AssistantPart[] {
  const out: ir.AssistantPart[] = []
  let calls = callsBefore
  for (const p of parts) {
    const signature = typeof p?.thoughtSignature === 'string' && p.thoughtSignature ? { origin: { protocol: GEMINI, provider }, value: p.thoughtSignature } : undefined
    if (p?.functionCall) {
      const fc = p.functionCall
      out.push({ type: 'tool_call', id: typeof fc.id === 'string' && fc.id ? fc.id : `call_${idBase}_${calls}`, name: String(fc.name ?? ''), input: JSON.stringify(fc.args ?? {}), kind: 'function', ...(signature ? { signature } : {}) })
      calls++
    } else if (typeof p?.text === 'string') {
      if (p.thought === true) out.push({ type: 'reasoning', text: p.text, ...(signature ? { signature } : {}) })
      else if (p.text) out.push({ type: 'text', text: p.text })
    } else if (p?.executableCode) out.push({ type: 'text', text: `\n\`\`\`${String(p.executableCode.language ?? '').toLowerCase()}\n${p.executableCode.code ?? ''}\n\`\`\`\n` })
    else if (p?.codeExecutionResult) out.push({ type: 'text', text: `\n\`\`\`\n${p.codeExecutionResult.output ?? ''}\n\`\`\`\n` })
  }
  return out
}

/** A generateContent answer (its first candidate) in the internal representation. */
export function decodeResponse(body: Json, options: DecodeOptions): ir.Response {
  const candidate = body.candidates?.[0]
  const id = String(body.responseId ?? '')
  const content = partsOf(candidate?.content?.parts ?? [], options.provider, id.replace(/[^a-zA-Z0-9]/g, '').slice(0, 16) || 'gemini')
  const usage = geminiUsage(body.usageMetadata)
  // A blocked prompt is an answer with no candidates and a block reason.
  const blocked = !candidate && body.promptFeedback?.blockReason
  return {
    id,
    model: typeof body.modelVersion === 'string' ? body.modelVersion : '',
    content,
    finish: blocked ? 'content_filter' : geminiFinish(candidate?.finishReason, content.some((p) => p.type === 'tool_call')),
    ...(candidate?.finishReason ? { rawFinish: candidate.finishReason } : {}),
    ...(usage ? { usage } : {}),
  }
}

/** A signature for a Gemini client: its own as it is, another protocol's packed with its origin. */
export function signatureFor(signature: ir.Signature | undefined): string | undefined {
  if (!signature?.value) return undefined
  return signature.origin.protocol === GEMINI ? signature.value : packSignature(signature)
}

/** One part as Gemini writes it. */
export function geminiPart(p: ir.AssistantPart): Json | null {
  const sig = p.type === 'reasoning' || p.type === 'tool_call' ? signatureFor(p.signature) : undefined
  const signed = sig ? { thoughtSignature: sig } : {}
  switch (p.type) {
    case 'text':
    case 'refusal':
      return p.text ? { text: p.text } : null
    case 'reasoning':
      return p.text || sig ? { text: p.text, thought: true, ...signed } : null
    case 'tool_call':
      return { functionCall: { id: p.id, name: flatToolName(p.name, p.namespace), args: p.kind === 'custom' ? { input: p.input } : argumentsObject(p.input) }, ...signed }
  }
}

/** The internal representation as a generateContent answer. */
export function encodeResponse(response: ir.Response, options: ReplyOptions): Json {
  return {
    candidates: [{
      content: { role: 'model', parts: response.content.filter((p) => p.type !== 'reasoning' || options.state.includeThoughts === true).map(geminiPart).filter((p): p is Json => p !== null) },
      finishReason: FINISH_TO_GEMINI[response.finish],
      index: 0,
    }],
    usageMetadata: geminiUsageJson(response.usage),
    modelVersion: options.model,
    responseId: options.responseId,
  }
}
