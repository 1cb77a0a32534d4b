import { randomToken } from './crypto.ts'

const SANE_ID = /^[A-Za-z0-9._:\-]{1,128}$/

// Ids need to be unique, not secret: a random prefix per process and a counter, no
// random bytes per request.
const PREFIX = 'req_' + randomToken(12)
let counter = 0

/** The client's request id when it is a sane token, a fresh one otherwise. */
export function requestIdFrom(inbound: string | null | undefined): string {
  if (inbound && SANE_ID.test(inbound)) return inbound
  counter = (counter + 1) % 0xffffffffff
  return PREFIX + counter.toString(36).padStart(8, '0')
}
