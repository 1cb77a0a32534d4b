import { secretScrubber } from '../../observability/logger.ts'

type LogFn = (obj: object, msg?: string) => void

/** The part of a pino logger the adapter logger writes to. */
export interface LogTarget {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

type AdapterLogFn = (objOrMsg: object | string, msg?: string) => void

export interface AdapterLogger {
  debug: AdapterLogFn
  info: AdapterLogFn
  warn: AdapterLogFn
  error: AdapterLogFn
  /** Adds a value never to log (a token the adapter just obtained); values under 8 characters are ignored. */
  secret(value: string): void
}

export interface AdapterLoggerOptions {
  /** Secrets known outside the adapter (the account's credentials), read on every line. */
  secrets?: () => ReadonlySet<string> | readonly string[]
}

// A field of one of these names holds a credential whatever its value looks like. Names are
// compared in snake_case, so `accessToken`, `access-token` and `Access_Token` are all caught;
// `tokens` (a usage count) and `max_tokens` are not.
const SECRET_NAME = /^(?:key|apikey|bearer|credentials?|passwd)$|(?:^|_)(?:token|password|secret|api_key|cookie|authorization|private_key|secret_key|access_key)$/
const MAX_DEPTH = 8
const MAX_OWN_SECRETS = 256
const REDACTED = '[redacted]'

const snake = (key: string) =>
  key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase()

/** Whether a field of this name is a credential by its name alone. */
export function isSecretField(key: string): boolean {
  return SECRET_NAME.test(snake(key))
}

/**
 * A logger for adapter code. Before a line reaches the process logger, every registered secret is
 * cut from its message and from every string in its fields, and fields named like credentials
 * (authorization, cookie, token, password, api_key, …) are replaced whatever they hold, eight
 * levels deep. Adapter code handles raw tokens and upstream replies that echo them; this is its
 * own line of defence, before the process logger's redaction.
 */
export function createAdapterLogger(target: LogTarget, options: AdapterLoggerOptions = {}): AdapterLogger {
  let own = new Set<string>()
  const scrubOwn = secretScrubber(() => own)
  const scrubKnown = options.secrets ? secretScrubber(options.secrets) : (text: string) => text
  const scrub = (text: string) => scrubKnown(scrubOwn(text))

  const write = (fn: LogFn) => (objOrMsg: object | string, msg?: string) => {
    if (typeof objOrMsg === 'string') return fn.call(target, {}, scrub(objOrMsg))
    const fields = scrubValue(objOrMsg, scrub, 0, new WeakSet()) as object
    return msg === undefined ? fn.call(target, fields) : fn.call(target, fields, scrub(msg))
  }

  return {
    debug: write(target.debug),
    info: write(target.info),
    warn: write(target.warn),
    error: write(target.error),
    secret(value) {
      if (typeof value !== 'string' || value.length < 8 || own.has(value)) return
      // Tokens that rotate would otherwise pile up; the oldest has long stopped being sent. A new
      // set rather than a deletion: the scrubber rebuilds when the set or its size changes.
      if (own.size >= MAX_OWN_SECRETS) own = new Set([...own].slice(1))
      own.add(value)
    },
  }
}

/** A copy of a value fit to log: secrets cut from strings, credential fields replaced. */
function scrubValue(value: unknown, scrub: (text: string) => string, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrub(value)
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value
  if (seen.has(value)) return '[circular]'
  if (depth >= MAX_DEPTH) return '[too deep]'
  // Only the path from the root counts: an object logged twice side by side is no cycle.
  seen.add(value)
  try {
    return scrubObject(value, scrub, depth, seen)
  } finally {
    seen.delete(value)
  }
}

function scrubObject(value: object, scrub: (text: string) => string, depth: number, seen: WeakSet<object>): unknown {
  // An error's message and stack are not enumerable: copied by hand, or they would go unscrubbed.
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: scrub(value.message) }
    if (value.stack) out.stack = scrub(value.stack)
    return copyFields(value, out, scrub, depth, seen)
  }
  if (value instanceof Headers) return copyFields(Object.fromEntries(value), {}, scrub, depth, seen)
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, scrub, depth + 1, seen))
  if (value instanceof Date) return value
  return copyFields(value, {}, scrub, depth, seen)
}

function copyFields(from: object, out: Record<string, unknown>, scrub: (text: string) => string, depth: number, seen: WeakSet<object>) {
  for (const [key, item] of Object.entries(from)) {
    out[key] = isSecretField(key) && item != null && item !== '' ? REDACTED : scrubValue(item, scrub, depth + 1, seen)
  }
  return out
}
