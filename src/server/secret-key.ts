import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { SealError, SecretBox } from '../lib/seal.ts'

export const SECRET_KEY_ENV = 'SLUICE_SECRET_KEY'
/** The key file made next to an embedded database when nothing else names a key. */
export const DEFAULT_KEY_FILE = 'sluice.key'

export interface SecretKeySource {
  /** The box, or null when no key is set and none may be made (a remote database without one). */
  box(options: { create: boolean }): SecretBox | null
  /** Where the key comes from, for messages (never the key itself). */
  readonly where: string
}

/**
 * Where the sealing key is: SLUICE_SECRET_KEY, else the config's `secrets.key_file`, else a key file
 * next to an embedded database, made (mode 0600) the first time a secret is sealed. A remote database
 * gets no made-up key: its secrets would be sealed with a key that only this machine has.
 */
export function secretKeySource(env: Record<string, string | undefined>, keyFile: string | null, databaseFile: string | null): SecretKeySource {
  const fromEnv = env[SECRET_KEY_ENV]
  if (fromEnv) {
    const box = SecretBox.fromText(fromEnv, SECRET_KEY_ENV)
    return { box: () => box, where: SECRET_KEY_ENV }
  }
  const path = keyFile ?? (databaseFile ? join(dirname(databaseFile), DEFAULT_KEY_FILE) : null)
  if (!path) return { box: () => null, where: `${SECRET_KEY_ENV} or secrets.key_file` }
  let box: SecretBox | null = null
  return {
    where: path,
    box({ create }) {
      if (box) return box
      if (existsSync(path)) box = SecretBox.fromText(readFileSync(path, 'utf8'), path)
      else if (create && !keyFile) box = SecretBox.fromText(writeNewKey(path), path)
      else if (create) throw new SealError(`${path}: the key file named by secrets.key_file does not exist`)
      return box
    },
  }
}

function writeNewKey(path: string): string {
  const text = SecretBox.generateKeyText()
  // 'wx': never overwrite a key another process just made; its secrets would become unreadable.
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8')
    throw err
  }
  try {
    writeSync(fd, text + '\n')
  } finally {
    closeSync(fd)
  }
  return text
}
