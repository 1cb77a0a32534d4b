import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

// Bun's one-shot hash: every authenticated request hashes the key it presents.
export function sha256Hex(value: string): string {
  return Bun.CryptoHasher.hash('sha256', value, 'hex')
}

/** Constant-time equality of two strings (length leaks only through the hash, which is fixed). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
}

/** A random string of base62 characters; 32 characters carry about 190 bits. */
export function randomToken(length = 32): string {
  const bytes = randomBytes(length * 2)
  let out = ''
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    const b = bytes[i]!
    // 248 = 4 * 62: rejecting the rest keeps the distribution uniform.
    if (b < 248) out += BASE62[b % 62]
  }
  while (out.length < length) out += randomToken(length - out.length)
  return out
}

/** A short public name for a secret: enough to tell keys apart, useless for recovering them. */
export function fingerprint(secret: string): string {
  return 'fp_' + sha256Hex(secret).slice(0, 10)
}
