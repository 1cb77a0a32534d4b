import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** The version tag of sealed values; a later scheme gets a new one and the old stays readable. */
const V1 = 'v1.'
const IV_BYTES = 12
const TAG_BYTES = 16

/** A sealed value that cannot be opened: wrong key, or altered. */
export class SealError extends Error {}

/**
 * Seals secrets that must be read back (upstream keys, account credentials) before they are stored:
 * AES-256-GCM with a fresh IV per value, so the database alone reveals nothing and any change to a
 * sealed value is detected. The key never lives in the database.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** A key given as 64 hex characters or as base64 of 32 bytes (`openssl rand -hex 32`). */
  static fromText(text: string, from: string): SecretBox {
    const trimmed = text.trim()
    const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : null
    if (!bytes || bytes.length !== 32) throw new SealError(`${from}: expected 32 bytes as 64 hex characters or base64 (openssl rand -hex 32)`)
    return new SecretBox(bytes)
  }

  static generateKeyText(): string {
    return randomBytes(32).toString('hex')
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return V1 + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
  }

  open(sealed: string): string {
    if (!sealed.startsWith(V1)) throw new SealError('not a sealed value')
    const raw = Buffer.from(sealed.slice(V1.length), 'base64url')
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SealError('sealed value too short')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES))
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      throw new SealError('cannot open a sealed value: the secret key is not the one it was sealed with, or the value was altered')
    }
  }
}
