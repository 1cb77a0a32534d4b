import { statSync } from 'node:fs'
import { ADAPTER_API_VERSION, ADAPTER_PROTOCOLS, type AdapterModule } from './module-api.ts'
import type { AdapterKit } from './kit/index.ts'

/** An adapter file that cannot be used; the message names the file and what is wrong. */
export class AdapterLoadError extends Error {}

/**
 * Loads an adapter file (TypeScript or JavaScript) at run time, also from the compiled binary, and
 * checks what its default export returns. A changed file is loaded again (reload picks up edits):
 * the runtime's module cache entry is dropped when the file's modification time moved.
 */
export async function loadAdapterModule(path: string, kit: AdapterKit, loadedAt = new Map<string, number>()): Promise<AdapterModule> {
  let mtime: number
  try {
    mtime = statSync(path).mtimeMs
  } catch (err) {
    throw new AdapterLoadError(`${path}: cannot read the adapter file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  if (loadedAt.has(path) && loadedAt.get(path) !== mtime) delete require.cache[path]
  let exported: unknown
  try {
    exported = (await import(path)).default
  } catch (err) {
    throw new AdapterLoadError(`${path}: the adapter does not load: ${buildErrorText(err)}`)
  }
  loadedAt.set(path, mtime)
  if (typeof exported !== 'function') throw new AdapterLoadError(`${path}: expected \`export default (sluice) => ({ apiVersion: 1, protocol, handle })\`, got ${exported === undefined ? 'no default export' : typeof exported}`)
  let adapter: unknown
  try {
    adapter = await (exported as (kit: AdapterKit) => unknown)(kit)
  } catch (err) {
    throw new AdapterLoadError(`${path}: the adapter's setup threw: ${(err as Error).message}`)
  }
  const a = adapter as Partial<AdapterModule> | null
  if (!a || typeof a !== 'object') throw new AdapterLoadError(`${path}: the default export must return the adapter object`)
  if (a.apiVersion !== ADAPTER_API_VERSION) throw new AdapterLoadError(`${path}: apiVersion: expected ${ADAPTER_API_VERSION}, got ${JSON.stringify(a.apiVersion)}`)
  if (!ADAPTER_PROTOCOLS.includes(a.protocol as never)) throw new AdapterLoadError(`${path}: protocol: expected one of ${ADAPTER_PROTOCOLS.join(', ')}, got ${JSON.stringify(a.protocol)}`)
  if (typeof a.handle !== 'function') throw new AdapterLoadError(`${path}: handle: expected a function (request, ctx) => Response`)
  return a as AdapterModule
}

/** A syntax error as `file:line:column: message` (Bun reports build errors as a list with positions). */
function buildErrorText(err: unknown): string {
  type Located = { message?: string; position?: { file?: string; line?: number; column?: number; lineText?: string } | null }
  // A first load throws an AggregateError of build messages; a load again throws the message itself.
  const first = (err as { errors?: Located[] }).errors?.[0] ?? (err as Located)
  if (first?.position) {
    const p = first.position
    return `${p.file ?? ''}:${p.line ?? '?'}:${p.column ?? '?'}: ${first.message ?? 'syntax error'}${p.lineText ? ` (\`${p.lineText.trim().slice(0, 120)}\`)` : ''}`
  }
  return (err as Error)?.message ?? String(err)
}
