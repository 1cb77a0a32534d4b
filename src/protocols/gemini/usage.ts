import type * as ir from '../ir.ts'
import { plainCount, type Count } from '../media.ts'

/** Gemini's `usageMetadata`: prompt tokens include cached ones; thoughts are output, counted apart from candidates. */
export function geminiUsage(raw: unknown, count: Count = plainCount): ir.Usage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as ir.Json
  const thoughts = count(u.thoughtsTokenCount, 'thoughtsTokenCount')
  return {
    input: count(u.promptTokenCount, 'promptTokenCount') + count(u.toolUsePromptTokenCount, 'toolUsePromptTokenCount'),
    output: count(u.candidatesTokenCount, 'candidatesTokenCount') + thoughts,
    cacheRead: count(u.cachedContentTokenCount, 'cachedContentTokenCount'),
    cacheWrite: 0,
    reasoning: thoughts,
  }
}

export function geminiUsageJson(u: Partial<ir.Usage> | undefined): ir.Json {
  const input = u?.input ?? 0
  const thoughts = u?.reasoning ?? 0
  const candidates = Math.max(0, (u?.output ?? 0) - thoughts)
  return {
    promptTokenCount: input,
    candidatesTokenCount: candidates,
    totalTokenCount: input + candidates + thoughts,
    ...(u?.cacheRead ? { cachedContentTokenCount: u.cacheRead } : {}),
    ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
  }
}

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION', 'LANGUAGE'])

/** A finish reason; function calls end with STOP in Gemini, so `sawCall` tells them apart. */
export function geminiFinish(reason: unknown, sawCall: boolean): ir.FinishReason {
  if (reason === 'MAX_TOKENS') return 'length'
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter'
  return sawCall ? 'tool_calls' : 'stop'
}

export const FINISH_TO_GEMINI: Record<ir.FinishReason, string> = {
  stop: 'STOP',
  tool_calls: 'STOP',
  length: 'MAX_TOKENS',
  content_filter: 'SAFETY',
  error: 'OTHER',
  other: 'OTHER',
}
