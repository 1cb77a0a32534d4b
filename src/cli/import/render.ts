import YAML from 'yaml'
import { envName, where } from './build.ts'
import type { Draft, SettingPath } from './draft.ts'

export interface Rendered {
  yaml: string
  /** The secrets as `NAME=value` lines, when they are written as `${NAME}` in the YAML; else null. */
  envFile: string | null
  /** Every `${NAME}` the YAML reads and the value it should have (placeholders the user fills are absent). */
  variables: Record<string, string>
  /** `${NAME}`s the YAML reads that nothing here can fill. */
  placeholders: string[]
}

/** Text that stands for itself in a config file: `${` would be read as an environment variable. */
const literal = (text: string) => text.replaceAll('${', () => '$${')

const SECTIONS = ['server', 'admin', 'log', 'auth', 'limits', 'upstream', 'timeouts', 'retry'] as const

/**
 * The sluice config of a draft, commented with where each value came from. With `env`, every
 * secret is written as `${NAME}` and its value returned in an env file instead.
 */
export function renderDraft(draft: Draft, options: { env: boolean; outName?: string; envOutName?: string }): Rendered {
  const variables: Record<string, string> = {}
  const placeholders: string[] = []
  const taken = new Set<string>()
  const secret = (value: string, wanted: string): string => {
    if (!options.env) return literal(value)
    let name = envName(wanted)
    for (let n = 2; taken.has(name); n++) name = `${envName(wanted)}_${n}`
    taken.add(name)
    variables[name] = value
    return `\${${name}}`
  }
  const hasCredentials = (url: string) => {
    try {
      const u = new URL(url)
      return u.username !== '' || u.password !== ''
    } catch {
      return false
    }
  }

  const root: Record<string, any> = {}
  const comments: { path: (string | number)[]; before?: string[]; trailing?: string }[] = []
  const settingsBySection = new Map<string, [string, SettingPath][]>()
  for (const path of draft.settings.keys()) {
    const [section, field] = path.split('.') as [string, string]
    settingsBySection.set(section, [...(settingsBySection.get(section) ?? []), [field, path]])
  }
  for (const section of SECTIONS) {
    for (const [field, path] of settingsBySection.get(section) ?? []) {
      const s = draft.settings.get(path)!
      root[section] ??= {}
      root[section][field] = path === 'admin.token' ? secret(String(s.value), 'SLUICE_ADMIN_TOKEN') : typeof s.value === 'string' ? literal(s.value) : s.value
      comments.push({ path: [section, field], trailing: `${where(s.at)}${s.note ? ` ${s.note}` : ''}` })
    }
  }

  if (draft.clientKeys.length > 0) {
    root.auth ??= {}
    root.auth.keys = draft.clientKeys.map((k) => ({
      name: k.name,
      key: secret(k.key, `CLIENT_KEY_${k.name}`),
      ...(k.expiresAt ? { expires_at: k.expiresAt.value } : {}),
      ...(k.rpm ? { rpm: k.rpm.value } : {}),
      ...(k.metadata ? { metadata: Object.fromEntries(Object.entries(k.metadata).map(([a, b]) => [a, literal(b)])) } : {}),
    }))
    comments.push({
      path: ['auth', 'keys'],
      before: [
        'Client keys: the keys the old proxy handed out to its own users, who send them to it as',
        'their API key (the .KEY file, API_KEY / MY_ACCESS_KEY, "tokens"). They are not upstream',
        'keys. Here they are sluice client keys, so those users keep working unchanged; sluice keeps',
        'only their SHA-256 hashes in its database. rpm is per key (the old proxy may have counted',
        'per key and address).',
      ],
    })
    draft.clientKeys.forEach((k, i) => {
      comments.push({ path: ['auth', 'keys', i, 'name'], trailing: `${where(k.at)} ${k.label}` })
      if (k.expiresAt?.note) comments.push({ path: ['auth', 'keys', i, 'expires_at'], trailing: k.expiresAt.note })
      if (k.rpm?.note) comments.push({ path: ['auth', 'keys', i, 'rpm'], trailing: k.rpm.note })
    })
  }

  if (draft.providers.length > 0) {
    root.providers = draft.providers.map((p, i) => {
      let base: string
      if (p.baseUrl) base = literal(p.baseUrl.value)
      else {
        base = `\${${envName(p.name)}_BASE_URL}`
        placeholders.push(`${envName(p.name)}_BASE_URL`)
      }
      const proxy = p.proxy ? (hasCredentials(p.proxy.value) ? secret(p.proxy.value, `${p.name}_PROXY`) : literal(p.proxy.value)) : undefined
      const models = [...p.models.map((m) => literal(m.value)), ...p.filters.map((f) => `/${literal(f.value)}/`)]
      const out: Record<string, unknown> = {
        name: p.name,
        type: 'openai',
        base_url: base,
        keys: p.keys.map((k, j) => secret(k.value, `${p.name}_KEY_${j + 1}`)),
        ...(models.length > 0 ? { models } : {}),
        ...(proxy ? { proxy } : {}),
        ...(p.fakeStream ? { fake_stream: p.fakeStream.value } : {}),
      }
      comments.push({ path: ['providers', i], before: [...p.comments] })
      comments.push({ path: ['providers', i, 'name'], trailing: `${where(p.at)} (${p.from.replace(/^[^:]*: /, '')})` })
      if (p.baseUrl) comments.push({ path: ['providers', i, 'base_url'], trailing: `${where(p.baseUrl.at)}${p.baseUrl.note ? ` ${p.baseUrl.note}` : ''}` })
      else comments.push({ path: ['providers', i, 'base_url'], trailing: 'needs a value: the API the old proxy called' })
      p.keys.forEach((k, j) => comments.push({ path: ['providers', i, 'keys', j], trailing: where(k.at) }))
      if (p.filters.length > 0) {
        comments.push({ path: ['providers', i, 'models'], before: ['supported_models, matched as there: anywhere in the id, case ignored ((?i:...)).'] })
      }
      if (p.proxy) comments.push({ path: ['providers', i, 'proxy'], trailing: `${where(p.proxy.at)} ${p.proxy.note ?? ''}`.trimEnd() })
      if (p.fakeStream) comments.push({ path: ['providers', i, 'fake_stream'], trailing: `${where(p.fakeStream.at)} ${p.fakeStream.note ?? ''}`.trimEnd() })
      return out
    })
  }

  const doc = new YAML.Document(root)
  const header = [
    ` sluice config written by \`sluice import\` from ${draft.sources.join(', ')}.`,
    ` Every value says where it came from; what could not be brought over was listed on stderr.`,
    ` Check it with: sluice check --config ${options.outName ?? 'FILE'}`,
  ]
  if (options.env) header.push(` The secrets are \${NAME}s, set in ${options.envOutName ?? 'the environment'} (keep it private); load it before sluice starts.`)
  if (placeholders.length > 0) header.push(` Set ${placeholders.map((p) => `\${${p}}`).join(', ')} before starting: nothing in the old files said it.`)
  if (!draft.providers.length) header.push(' No upstream provider was found: add one under providers (see sluice init).')
  if (!draft.clientKeys.length) header.push(' No client keys were found: sluice makes one on its first start and prints it once.')
  doc.commentBefore = header.join('\n')
  for (const c of comments) attach(doc, c.path, c.before, c.trailing)
  // A blank line between the sections.
  for (const pair of (doc.contents as YAML.YAMLMap).items.slice(1)) (pair.key as YAML.Scalar).spaceBefore = true

  let envFile: string | null = null
  if (options.env) {
    const safe = /^[A-Za-z0-9_@%+=:,./~-]*$/
    const file = options.envOutName ? (options.envOutName.includes('/') ? options.envOutName : `./${options.envOutName}`) : './FILE'
    const lines = [
      `# The secrets of ${options.outName ?? 'the config'} (written by sluice import), read there as \${NAME}.`,
      `# Keep this file private. Load it with: set -a; . ${file}; set +a`,
      '# (or systemd EnvironmentFile=, or docker run --env-file).',
      ...Object.entries(variables).map(([name, value]) => `${name}=${safe.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`}`),
      ...placeholders.map((name) => `# ${name}=   needs a value: the API the old proxy called`),
    ]
    envFile = lines.join('\n') + '\n'
  }
  return { yaml: doc.toString({ lineWidth: 0 }), envFile, variables, placeholders }
}

/** Puts comments on the node at `path`: lines before it, or one after it on its line. */
function attach(doc: YAML.Document, path: (string | number)[], before?: string[], trailing?: string): void {
  if (path.length === 0) return
  const parent = doc.getIn(path.slice(0, -1), true)
  const last = path[path.length - 1]!
  let target: { commentBefore?: string | null; comment?: string | null } | undefined
  if (YAML.isMap(parent)) {
    const pair = parent.items.find((p) => YAML.isScalar(p.key) && p.key.value === last)
    if (!pair) return
    // Before a key, on the key; after a scalar value, on the value; after a key with a block below, on the key.
    if (before) target = pair.key as YAML.Scalar
    else target = YAML.isScalar(pair.value) ? pair.value : (pair.key as YAML.Scalar)
  } else if (YAML.isSeq(parent)) {
    target = parent.items[last as number] as YAML.Node | undefined
  }
  if (!target) return
  const clean = (s: string) => ' ' + s.replace(/[\r\n]+/g, ' ')
  if (before && before.length > 0) target.commentBefore = before.map(clean).join('\n')
  if (trailing) target.comment = clean(trailing)
}
