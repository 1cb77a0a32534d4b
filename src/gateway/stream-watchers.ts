import { blankLineEndsAt, eventData } from '../lib/sse.ts'
import type { EventWatcher } from './stream-relay.ts'
import { usageFromAnthropic, usageFromOpenAI, usageFromResponses, type Usage, type UsageBound } from './usage.ts'

const USAGE_KEY = Buffer.from('"usage"')

/** Where the first `"usage": {` key (not `"usage": null`) is in some bytes, or -1. */
function usageAt(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let at = buf.indexOf(USAGE_KEY); at >= 0; at = buf.indexOf(USAGE_KEY, at + 1)) {
    let i = at + USAGE_KEY.length
    while (buf[i] === 32) i++
    if (buf[i] !== 58) continue
    i++
    while (buf[i] === 32) i++
    if (buf[i] === 123) return at
  }
  return -1
}

const carriesUsage = (event: Uint8Array) => usageAt(event) >= 0

/** In a chunk of whole events: where the first event carrying usage starts, or -1. */
function usageEventFrom(chunk: Uint8Array): number {
  const at = usageAt(chunk)
  if (at < 0) return -1
  // Back to the blank line that ends the event before it.
  for (let end = at; end >= 2; end--) if (blankLineEndsAt(chunk, end)) return end
  return 0
}

function parse(event: Uint8Array): Record<string, any> | null {
  const data = eventData(event)
  if (data === null) return null
  try {
    return JSON.parse(data)
  } catch {
    return null
  }
}

/**
 * OpenAI streams: usage arrives in one chunk (`choices: []`) near the end. That chunk is dropped
 * when the gateway asked for it on behalf of a client that did not.
 */
export function openaiUsageWatcher(stripUsageChunk: boolean, onUsage: (usage: Usage) => void, bound?: UsageBound): EventWatcher {
  return Object.assign((event: Uint8Array) => {
    if (!carriesUsage(event)) return true
    const chunk = parse(event)
    if (!chunk) return true
    const usage = usageFromOpenAI(chunk.usage, bound)
    if (usage) onUsage(usage)
    const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0
    return !(stripUsageChunk && usageOnly)
  }, { needFrom: usageEventFrom })
}

/** Responses API streams: usage arrives in `response.completed` (inside `response`). */
export function responsesUsageWatcher(onUsage: (usage: Usage) => void, bound?: UsageBound): EventWatcher {
  return Object.assign(
    (event: Uint8Array) => {
      if (!carriesUsage(event)) return true
      const data = parse(event)
      const usage = usageFromResponses(data?.response?.usage ?? data?.usage, bound)
      if (usage) onUsage(usage)
      return true
    },
    { needFrom: usageEventFrom },
  )
}

const MESSAGE_START = Buffer.from('event: message_start')
const MESSAGE_DELTA = Buffer.from('event: message_delta')

/** Anthropic streams: input usage in message_start, cumulative output usage in message_delta. */
export function anthropicUsageWatcher(onUsage: (usage: Usage) => void, bound?: UsageBound): EventWatcher {
  let seen: Record<string, any> = {}
  return (event) => {
    const buf = Buffer.from(event.buffer, event.byteOffset, event.byteLength)
    const start = buf.indexOf(MESSAGE_START) === 0
    if (!start && buf.indexOf(MESSAGE_DELTA) !== 0) return true
    const data = parse(event)
    const usage = start ? data?.message?.usage : data?.usage
    if (usage && typeof usage === 'object') {
      seen = { ...seen, ...usage }
      const parsed = usageFromAnthropic(seen, bound)
      if (parsed) onUsage(parsed)
    }
    return true
  }
}
