import type { FieldProblem, StoredKey, StoredProviderSpec } from '../../config/managed.ts'
import { keyHint } from '../../gateway/routing/key-pool.ts'
import { fingerprint, randomToken } from '../../lib/crypto.ts'
import type { SecretBox } from '../../lib/seal.ts'

/** Provider fields kept as they are; the secret ones (keys, headers, proxy) are sealed. */
const PLAIN_FIELDS = ['type', 'base_url', 'models', 'timeouts', 'sticky', 'fake_stream', 'stream_only', 'default_max_tokens', 'api', 'responses_only_models', 'priority', 'weight', 'max_concurrent_per_key'] as const
const MAX_KEYS = 1000
const MAX_KEY_CHARS = 4096

export interface ProviderEdit {
  name: string
  enabled: boolean
  spec: StoredProviderSpec
  problems: FieldProblem[]
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * A provider from an admin request: a new one (`previous` null) or an edit, where a field left out
 * keeps its value and null clears it. Keys are a list of `{ key, label }` (new) or `{ id, label }`
 * (kept); a header set to null keeps its stored value; secrets are sealed here and never echoed.
 */
export function providerEdit(input: Record<string, unknown>, previous: { name: string; enabled: boolean; spec: StoredProviderSpec } | null, box: () => SecretBox): ProviderEdit {
  const problems: FieldProblem[] = []
  const spec: Record<string, unknown> = previous ? structuredClone(previous.spec) : { keys: [] }
  const known = new Set<string>(['name', 'enabled', 'keys', 'headers', 'proxy', ...PLAIN_FIELDS])
  for (const field of Object.keys(input)) if (!known.has(field)) problems.push({ field, message: 'unknown field' })
  for (const field of PLAIN_FIELDS) {
    if (!(field in input)) continue
    if (input[field] === null) delete spec[field]
    else spec[field] = input[field]
  }
  const name = input.name === undefined && previous ? previous.name : input.name
  if (typeof name !== 'string') problems.push({ field: 'name', message: 'required: letters, digits, _ . -' })
  const enabled = input.enabled === undefined ? (previous?.enabled ?? true) : input.enabled
  if (typeof enabled !== 'boolean') problems.push({ field: 'enabled', message: 'expected true or false' })
  if (!previous && !('type' in input)) problems.push({ field: 'type', message: 'required field is missing' })
  // Adapters are trusted code: they load only from files the config file names.
  if (input.type === 'module') problems.push({ field: 'type', message: 'a module provider runs code, so it can only be defined in the config file' })

  if ('keys' in input) spec.keys = editKeys(input.keys, previous?.spec.keys ?? [], box, problems)
  else if (!previous) problems.push({ field: 'keys', message: 'expected at least one key' })

  if ('headers' in input) {
    const headers = input.headers
    if (headers === null) delete spec.headers
    else if (!isObject(headers)) problems.push({ field: 'headers', message: 'expected an object of header names and values' })
    else {
      const sealed: Record<string, string> = {}
      for (const [header, value] of Object.entries(headers)) {
        const kept = previous?.spec.headers?.[header]
        if (value === null && kept !== undefined) sealed[header] = kept
        else if (typeof value === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) sealed[header] = box().seal(value)
        else problems.push({ field: `headers.${header}`, message: value === null ? 'no stored value to keep' : 'expected a header name and a string value' })
      }
      spec.headers = sealed
    }
  }
  if ('proxy' in input) {
    if (input.proxy === null || input.proxy === '') delete spec.proxy
    else if (typeof input.proxy === 'string') spec.proxy = box().seal(input.proxy)
    else problems.push({ field: 'proxy', message: 'expected an http(s) URL' })
  }
  return { name: typeof name === 'string' ? name : '', enabled: enabled === true, spec: spec as StoredProviderSpec, problems }
}

function editKeys(value: unknown, previous: readonly StoredKey[], box: () => SecretBox, problems: FieldProblem[]): StoredKey[] {
  if (!Array.isArray(value)) {
    problems.push({ field: 'keys', message: 'expected a list of { key, label } or { id, label }' })
    return [...previous]
  }
  if (value.length > MAX_KEYS) problems.push({ field: 'keys', message: `at most ${MAX_KEYS} keys` })
  const out: StoredKey[] = []
  value.slice(0, MAX_KEYS).forEach((item, i) => {
    const at = `keys[${i}]`
    if (!isObject(item)) return void problems.push({ field: at, message: 'expected { key, label } or { id, label }' })
    const label = item.label === undefined || item.label === null || item.label === '' ? null : item.label
    if (label !== null && (typeof label !== 'string' || label.length > 80)) problems.push({ field: `${at}.label`, message: 'expected at most 80 characters' })
    for (const field of Object.keys(item)) if (!['id', 'key', 'label'].includes(field)) problems.push({ field: `${at}.${field}`, message: 'unknown field' })
    if (typeof item.key === 'string') {
      const key = item.key.trim()
      if (key === '' || key.length > MAX_KEY_CHARS || /\s/.test(key)) return void problems.push({ field: `${at}.key`, message: `expected a key of 1 to ${MAX_KEY_CHARS} characters without spaces` })
      out.push({ id: 'uk_' + randomToken(12), label: label as string | null, hint: keyHint(key), sealed: box().seal(key) })
    } else if (typeof item.id === 'string') {
      const kept = previous.find((k) => k.id === item.id)
      if (!kept) return void problems.push({ field: `${at}.id`, message: `no stored key ${item.id.slice(0, 40)}` })
      out.push({ ...kept, label: label as string | null })
    } else problems.push({ field: `${at}.key`, message: 'expected the key, or the id of a stored key' })
  })
  return out
}

/** A stored provider as the admin API shows it: secrets as hints, never as values. */
export function storedProviderView(spec: StoredProviderSpec, open: (sealed: string) => string) {
  const fp = (k: StoredKey) => {
    try {
      return fingerprint(open(k.sealed))
    } catch {
      return null
    }
  }
  const { keys, headers, proxy, ...plain } = spec
  return {
    ...plain,
    keys: keys.map((k) => ({ id: k.id, label: k.label, hint: k.hint, fingerprint: fp(k) })),
    headers: Object.fromEntries(Object.keys(headers ?? {}).map((h) => [h, '(set)'])),
    proxy: proxy === undefined ? null : redactedProxy(proxy, open),
  }
}

/** A proxy URL with its password taken out. */
export function redactedProxy(sealedOrPlain: string, open: (sealed: string) => string): string {
  let url: string
  try {
    url = sealedOrPlain.startsWith('v1.') ? open(sealedOrPlain) : sealedOrPlain
  } catch {
    return '(cannot be read)'
  }
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(set)'
  }
}
