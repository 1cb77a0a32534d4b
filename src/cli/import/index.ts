import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError, parseConfigText } from '../../config/load.ts'
import { UsageError } from '../args.ts'
import { importSources, type ImportInput } from './build.ts'
import type { Draft, Finding } from './draft.ts'
import { renderDraft } from './render.ts'

export { importSources } from './build.ts'
export { renderDraft } from './render.ts'

type Out = { write(text: string): unknown }

export interface ImportOptions {
  /** Write the YAML here instead of stdout. */
  out?: string
  /** Write the secrets here (as NAME=value), with `${NAME}` in the YAML. */
  envOut?: string
  /** Secrets as `${NAME}`: their values go to --env-out, or to stdout when the YAML goes to --out. */
  env: boolean
}

/** One report line; never a secret, only names, lines and reasons. */
export function findingLine(f: Finding): string {
  const at = f.at.line === undefined ? f.at.file : `${f.at.file}:${f.at.line}`
  return `${at}: ${f.imported ? 'note: ' : ''}${f.text}`
}

function counts(draft: Draft): string {
  const keys = draft.providers.reduce((n, p) => n + p.keys.length, 0)
  const parts = [
    `${draft.providers.length} provider(s) with ${keys} upstream key(s)`,
    `${draft.clientKeys.length} client key(s)`,
    `${draft.settings.size} other setting(s)`,
  ]
  return parts.join(', ')
}

/**
 * `sluice import FILE...`: the .env, .KEY and config.json files of the small "2API" proxies as one
 * sluice config. The YAML goes to stdout or --out; what could not be brought over goes to stderr,
 * one line each. Exit 0 when something was imported, 1 when nothing could be.
 */
export function importCommand(files: readonly string[], options: ImportOptions, force: boolean, out: Out, err: Out, cwd = process.cwd()): number {
  const env = options.env || options.envOut !== undefined
  if (env && options.out === undefined && options.envOut === undefined) {
    throw new UsageError('--env keeps the secrets apart from the YAML: give --env-out FILE for them, or --out FILE for the YAML (the secrets then go to stdout)')
  }
  if (options.out !== undefined && options.envOut !== undefined && resolve(cwd, options.out) === resolve(cwd, options.envOut)) {
    throw new UsageError('--out and --env-out name the same file')
  }
  for (const target of [options.out, options.envOut]) {
    if (target !== undefined && existsSync(resolve(cwd, target)) && !force) {
      err.write(`sluice: ${target} exists; use --force to overwrite it\n`)
      return 1
    }
  }
  const inputs: ImportInput[] = files.map((path) => {
    try {
      return { path, text: readFileSync(resolve(cwd, path), 'utf8') }
    } catch (e) {
      const code = (e as { code?: string }).code
      return { path, text: null, error: code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message }
    }
  })
  const draft = importSources(inputs)
  for (const finding of draft.findings) err.write(findingLine(finding) + '\n')
  const skipped = draft.findings.filter((f) => !f.imported).length
  if (draft.providers.length === 0 && draft.clientKeys.length === 0 && draft.settings.size === 0) {
    err.write(`sluice import: nothing in ${files.join(', ')} could be imported${skipped ? ' (the reasons are above)' : ''}\n`)
    return 1
  }
  const rendered = renderDraft(draft, { env, ...(options.out ? { outName: options.out } : {}), ...(options.envOut ? { envOutName: options.envOut } : {}) })
  // What is written must be a config sluice reads: checked here with the values it refers to.
  try {
    const placeholders = Object.fromEntries(rendered.placeholders.map((p) => [p, 'https://upstream.invalid/v1']))
    parseConfigText(rendered.yaml, 'the imported config.yaml', { ...rendered.variables, ...placeholders })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    err.write(`sluice import: the config made from these files is not valid, which is a bug of sluice import:\n${e.problems.map((p) => `  - ${p}`).join('\n')}\n`)
    return 1
  }
  const write = (path: string, text: string) => {
    const full = resolve(cwd, path)
    writeFileSync(full, text, { mode: 0o600 })
    // An overwritten file keeps its mode: make it private too.
    chmodSync(full, 0o600)
  }
  if (options.out !== undefined) write(options.out, rendered.yaml)
  else out.write(rendered.yaml)
  if (rendered.envFile !== null) {
    if (options.envOut !== undefined) write(options.envOut, rendered.envFile)
    else out.write(rendered.envFile)
  }
  const written = [options.out, options.envOut].filter(Boolean)
  err.write(
    `sluice import: ${counts(draft)}${written.length ? `, written to ${written.join(' and ')}` : ''}; ${skipped} line(s) not imported${skipped ? ' (listed above)' : ''}\n`,
  )
  if (rendered.placeholders.length > 0) err.write(`sluice import: set ${rendered.placeholders.join(', ')} before starting sluice (see the notes above)\n`)
  return 0
}
