import type { Static } from '@sinclair/typebox'
import { describeSchemaErrors } from './errors.ts'
import { resolveAlias, resolveProvider } from './load.ts'
import { AliasSchema, PriceSchema, ProviderSchema, type AliasConfig, type Config, type PriceConfig, type ProviderConfig } from './schema.ts'

/**
 * Providers, aliases and prices kept in the database (added in the dashboard or the admin API),
 * merged with the config file's: each goes through the same schema and the same resolution as a
 * file entry, so an entry the file would refuse is refused here, with the field named.
 */

type ProviderFile = Static<typeof ProviderSchema>
type AliasFile = Static<typeof AliasSchema>

/** An upstream key of a stored provider: sealed, with a stable id and its hint for display. */
export interface StoredKey {
  id: string
  label: string | null
  hint: string
  sealed: string
}

/**
 * A provider as stored: the file's fields but the name, with everything that may be a secret sealed:
 * the keys, header values (an `Authorization` header is a key too) and the proxy URL (it may carry a
 * password).
 */
export type StoredProviderSpec = Omit<ProviderFile, 'name' | 'keys' | 'headers' | 'proxy'> & {
  keys: StoredKey[]
  headers?: Record<string, string>
  proxy?: string
}
export type StoredAliasSpec = Omit<AliasFile, 'name'>
export type StoredPriceSpec = PriceConfig

export interface ManagedInput {
  providers: { name: string; enabled: boolean; spec: StoredProviderSpec }[]
  aliases: { name: string; enabled: boolean; spec: StoredAliasSpec }[]
  prices: { name: string; enabled: boolean; spec: StoredPriceSpec }[]
}

/** One problem of one field of an entry; `field` is relative to the entry (`base_url`, `keys[1]`). */
export interface FieldProblem {
  field: string
  message: string
}

/** Why a stored entry is not in force. */
export interface EntryStatus {
  kind: 'provider' | 'alias' | 'price'
  name: string
  /** in force, switched off, or refused (`problems` say why). */
  state: 'active' | 'disabled' | 'shadowed' | 'invalid'
  problems: FieldProblem[]
}

export interface MergeResult {
  config: Config
  statuses: EntryStatus[]
  /** The opened upstream keys, so the logger can scrub them. */
  secrets: string[]
}

/** Opens a sealed key; throws when the key cannot be read (wrong sealing key). */
export type Opener = (sealed: string) => string

/** `.base_url: expected ...` (what the resolvers say for an entry at '') as a field and a message. */
export function fieldProblems(lines: readonly string[]): FieldProblem[] {
  return lines.map((line) => {
    const m = /^\.?([A-Za-z0-9_.[\]]*|\(top level\)): (.*)$/s.exec(line)
    return m ? { field: m[1] === '(top level)' ? '' : m[1]!, message: m[2]! } : { field: '', message: line }
  })
}

export function providerProblems(name: string, spec: StoredProviderSpec, open: Opener, base: Config): { problems: FieldProblem[]; provider: ProviderConfig | null; secrets: string[] } {
  const secrets: string[] = []
  const keys: { key: string; label?: string }[] = []
  const problems: FieldProblem[] = []
  const opened = (sealed: string, field: string): string | null => {
    try {
      return open(sealed)
    } catch (err) {
      problems.push({ field, message: (err as Error).message })
      return null
    }
  }
  spec.keys.forEach((k, i) => {
    const key = opened(k.sealed, `keys[${i}]`)
    if (key === null) return
    secrets.push(key)
    keys.push(k.label ? { key, label: k.label } : { key })
  })
  const headers: Record<string, string> = {}
  for (const [name, sealed] of Object.entries(spec.headers ?? {})) {
    const value = opened(sealed, `headers.${name}`)
    if (value !== null) headers[name] = value
    if (value && value.length >= 8) secrets.push(value)
  }
  const proxy = spec.proxy === undefined ? undefined : opened(spec.proxy, 'proxy')
  if (problems.length > 0) return { problems, provider: null, secrets }
  const file = { ...spec, name, keys, headers: spec.headers ? headers : undefined, proxy: proxy ?? undefined }
  if (file.headers === undefined) delete file.headers
  if (file.proxy === undefined) delete file.proxy
  const schema = describeSchemaErrors(ProviderSchema, file)
  if (schema.length > 0) return { problems: fieldProblems(schema), provider: null, secrets }
  const lines: string[] = []
  const provider = resolveProvider(file as ProviderFile, base.timeouts, '', lines)
  return { problems: fieldProblems(lines), provider: lines.length === 0 ? provider : null, secrets }
}

export function aliasProblems(name: string, spec: StoredAliasSpec, providers: readonly ProviderConfig[]): { problems: FieldProblem[]; alias: AliasConfig | null } {
  const file = { ...spec, name }
  const schema = describeSchemaErrors(AliasSchema, file)
  if (schema.length > 0) return { problems: fieldProblems(schema), alias: null }
  const lines: string[] = []
  const alias = resolveAlias(file as AliasFile, '', providers, lines)
  return { problems: fieldProblems(lines), alias: lines.length === 0 ? alias : null }
}

export function priceProblems(spec: StoredPriceSpec): FieldProblem[] {
  return fieldProblems(describeSchemaErrors(PriceSchema, spec))
}

/**
 * The config in force: the file's (or environment's) entries, then the stored ones that are enabled
 * and valid. A stored entry never replaces a file entry of the same name: the file wins, the stored
 * one is reported `shadowed`. The result is frozen like a loaded config.
 */
export function mergeManaged(base: Config, input: ManagedInput, open: Opener): MergeResult {
  const statuses: EntryStatus[] = []
  const secrets: string[] = []
  const providers: ProviderConfig[] = [...base.providers]
  const fileProviders = new Set(base.providers.map((p) => p.name))
  for (const entry of input.providers) {
    if (fileProviders.has(entry.name)) {
      statuses.push({ kind: 'provider', name: entry.name, state: 'shadowed', problems: [{ field: 'name', message: 'the config file defines a provider of this name' }] })
      continue
    }
    if (!entry.enabled) {
      statuses.push({ kind: 'provider', name: entry.name, state: 'disabled', problems: [] })
      continue
    }
    const checked = providerProblems(entry.name, entry.spec, open, base)
    secrets.push(...checked.secrets)
    if (checked.provider) providers.push(checked.provider)
    statuses.push({ kind: 'provider', name: entry.name, state: checked.provider ? 'active' : 'invalid', problems: checked.problems })
  }
  const aliases: AliasConfig[] = [...base.aliases]
  const fileAliases = new Set(base.aliases.map((a) => a.name))
  for (const entry of input.aliases) {
    if (fileAliases.has(entry.name)) {
      statuses.push({ kind: 'alias', name: entry.name, state: 'shadowed', problems: [{ field: 'name', message: 'the config file defines an alias of this name' }] })
      continue
    }
    if (!entry.enabled) {
      statuses.push({ kind: 'alias', name: entry.name, state: 'disabled', problems: [] })
      continue
    }
    const checked = aliasProblems(entry.name, entry.spec, providers)
    if (checked.alias) aliases.push(checked.alias)
    statuses.push({ kind: 'alias', name: entry.name, state: checked.alias ? 'active' : 'invalid', problems: checked.problems })
  }
  const prices: Record<string, PriceConfig> = {}
  for (const entry of input.prices) {
    if (Object.hasOwn(base.prices, entry.name)) {
      statuses.push({ kind: 'price', name: entry.name, state: 'shadowed', problems: [{ field: 'name', message: 'the config file prices this model' }] })
      continue
    }
    if (!entry.enabled) {
      statuses.push({ kind: 'price', name: entry.name, state: 'disabled', problems: [] })
      continue
    }
    const problems = priceProblems(entry.spec)
    if (problems.length === 0) prices[entry.name] = entry.spec
    statuses.push({ kind: 'price', name: entry.name, state: problems.length === 0 ? 'active' : 'invalid', problems })
  }
  const config = deepFreeze({ ...base, providers, aliases, prices: { ...prices, ...base.prices } })
  return { config, statuses, secrets }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
