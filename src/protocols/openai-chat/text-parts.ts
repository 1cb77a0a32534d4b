import type { Json } from '../ir.ts'

/**
 * The reasoning and the text of an OpenAI-style message or stream delta, whatever dialect carries
 * them: `reasoning_content` (DeepSeek, Qwen, vLLM) or `reasoning` (Groq, OpenRouter) beside the
 * content; `content` as a string, or as parts (Mistral: `text` parts and `thinking` parts whose
 * `thinking` is itself a list of text parts).
 */
export function openaiTextParts(m: Json): { reasoning: string; text: string; refusal: string } {
  let reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : typeof m.reasoning === 'string' ? m.reasoning : ''
  let text = ''
  if (typeof m.content === 'string') text = m.content
  else if (Array.isArray(m.content)) {
    for (const part of m.content as Json[]) {
      if (part?.type === 'thinking') reasoning += partsText(part.thinking)
      else if (typeof part?.text === 'string') text += part.text
    }
  }
  return { reasoning, text, refusal: typeof m.refusal === 'string' ? m.refusal : '' }
}

function partsText(value: unknown): string {
  if (typeof value === 'string') return value
  if (!Array.isArray(value)) return ''
  return (value as Json[]).map((p) => (typeof p?.text === 'string' ? p.text : '')).join('')
}
