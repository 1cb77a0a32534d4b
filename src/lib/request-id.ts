import { randomToken } from './crypto.ts'

const SANE_ID = /^[A-Za-z0-9._:\-]{1,128}$/

/** The client's request id when it is a sane token, a fresh one otherwise. */
export function requestIdFrom(inbound: string | null | undefined): string {
  if (inbound && SANE_ID.test(inbound)) return inbound
  return 'req_' + randomToken(24)
}
