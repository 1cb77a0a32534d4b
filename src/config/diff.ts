import { fingerprint } from '../lib/crypto.ts'
import { changedSettings } from './reload-policy.ts'
import type { Config } from './schema.ts'

export interface ConfigChanges {
  providers: { added: string[]; removed: string[]; modified: string[] }
  /** Upstream keys as fingerprints, never the keys. */
  keys: { added: string[]; removed: string[] }
  aliases: { added: string[]; removed: string[]; modified: string[] }
  client_keys: { added: string[]; removed: string[] }
  /** Settings that changed and are in force now. */
  settings_applied: string[]
  /** Settings that changed and that only a restart applies (listening address, database, ...). */
  restart_required: string[]
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((i) => [i.name, i]))
}

function compare<T extends { name: string }>(before: readonly T[], after: readonly T[], same: (a: T, b: T) => boolean) {
  const a = byName(before)
  const b = byName(after)
  return {
    added: [...b.keys()].filter((n) => !a.has(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
    modified: [...b.keys()].filter((n) => a.has(n) && !same(a.get(n)!, b.get(n)!)),
  }
}

const json = (v: unknown) => JSON.stringify(v)

/** What a reload changes, in words an operator can read (and a log can keep: no secrets). */
export function diffConfigs(before: Config, after: Config): ConfigChanges {
  const keyIds = (c: Config) => new Set(c.providers.flatMap((p) => p.keys.map((k) => `${p.name}:${fingerprint(k)}`)))
  const beforeKeys = keyIds(before)
  const afterKeys = keyIds(after)
  const clientKeys = (c: Config) => new Map(c.auth.keys.map((k) => [k.name, fingerprint(k.key)]))
  const beforeClients = clientKeys(before)
  const afterClients = clientKeys(after)
  const { applied, restart } = changedSettings(before, after)
  return {
    providers: compare(before.providers, after.providers, (a, b) => json({ ...a, keys: a.keys.map(fingerprint) }) === json({ ...b, keys: b.keys.map(fingerprint) })),
    keys: {
      added: [...afterKeys].filter((k) => !beforeKeys.has(k)),
      removed: [...beforeKeys].filter((k) => !afterKeys.has(k)),
    },
    aliases: compare(before.aliases, after.aliases, (a, b) => json(a) === json(b)),
    client_keys: {
      added: [...afterClients].filter(([n, fp]) => beforeClients.get(n) !== fp).map(([n]) => n),
      removed: [...beforeClients.keys()].filter((n) => !afterClients.has(n)),
    },
    settings_applied: applied,
    restart_required: restart,
  }
}
