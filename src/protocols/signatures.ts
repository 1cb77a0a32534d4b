import type { Origin, Signature } from './ir.ts'

/**
 * Reasoning signatures (Anthropic's `signature`, Responses' `encrypted_content`, Gemini's
 * `thoughtSignature`) are only valid where they were made. When one must travel through a client
 * of another protocol, it is packed with where it came from, so that it goes back to that same
 * protocol and provider only, and is dropped everywhere else.
 */
const PREFIX = 'sluice.v1.'

export type Carried = Signature

export function packSignature(carried: Carried): string {
  const json = JSON.stringify({ p: carried.origin.protocol, v: carried.origin.provider ?? null, s: carried.value, i: carried.id ?? null })
  return PREFIX + Buffer.from(json).toString('base64url')
}

/** A packed signature's contents; null for one the gateway did not pack (the client's own protocol's). */
export function unpackSignature(text: string): Carried | null {
  if (!text.startsWith(PREFIX)) return null
  try {
    const o = JSON.parse(Buffer.from(text.slice(PREFIX.length), 'base64url').toString())
    if (typeof o?.p !== 'string' || typeof o.s !== 'string') return null
    return { origin: { protocol: o.p, ...(typeof o.v === 'string' ? { provider: o.v } : {}) }, value: o.s, ...(typeof o.i === 'string' ? { id: o.i } : {}) }
  } catch {
    return null
  }
}

/** Whether a signature may be sent to this protocol and provider. */
export function validFor(origin: Origin, protocol: string, provider: string): boolean {
  return origin.protocol === protocol && (origin.provider === undefined || origin.provider === provider)
}

const ID_MARK = '__sig'

/**
 * A tool call id that carries a call's signature through a client of another protocol (Gemini's
 * `thoughtSignature` sits on the call itself, and chat, Responses and Anthropic clients only keep
 * the id). Only `[a-zA-Z0-9_-]`, as Anthropic ids must be.
 */
export function signedCallId(id: string, signature: Signature | undefined, clientProtocol: string): string {
  if (!signature || signature.origin.protocol === clientProtocol) return id
  const json = JSON.stringify({ p: signature.origin.protocol, v: signature.origin.provider ?? null, s: signature.value })
  return `${id}${ID_MARK}${Buffer.from(json).toString('base64url')}`
}

/** A call id the gateway signed, split into the client's id and the signature; other ids as they are. */
export function splitCallId(id: string): { id: string; signature?: Signature } {
  const at = id.indexOf(ID_MARK)
  if (at < 0) return { id }
  try {
    const o = JSON.parse(Buffer.from(id.slice(at + ID_MARK.length), 'base64url').toString())
    if (typeof o?.p !== 'string' || typeof o.s !== 'string') return { id }
    return { id: id.slice(0, at), signature: { origin: { protocol: o.p, ...(typeof o.v === 'string' ? { provider: o.v } : {}) }, value: o.s } }
  } catch {
    return { id }
  }
}
