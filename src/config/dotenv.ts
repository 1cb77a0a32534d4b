import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The files Bun reads into the environment at start, from the working directory. */
const DOTENV_FILES = ['.env', `.env.${process.env.NODE_ENV ?? 'production'}`, '.env.local']

/**
 * Names the seed projects' `.env` files use (2API proxies this gateway replaces) that mean nothing
 * to sluice: set, they would be ignored silently.
 */
const FOREIGN_NAMES = ['API_KEYS', 'TOKEN_POOL', 'AVAILABLE_MODELS', 'PROXY_URL', 'API_KEY', 'MY_ACCESS_KEY', 'MAX_RETRIES', 'ASSEMBLY_API_KEYS']

export interface DotenvReport {
  /** The files that were there (and so were read), with the names they set (never the values). */
  files: Array<{ path: string; names: string[] }>
  /** Names from other proxies' `.env` files that sluice does not read. */
  foreign: string[]
}

/** What the working directory's `.env` files gave the process: read for the start-up log. */
export function dotenvReport(cwd = process.cwd()): DotenvReport {
  const files: DotenvReport['files'] = []
  for (const name of DOTENV_FILES) {
    const path = join(cwd, name)
    if (!existsSync(path)) continue
    let text = ''
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      continue
    }
    const names = [...text.matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]!)
    files.push({ path, names })
  }
  const all = new Set(files.flatMap((f) => f.names))
  return { files, foreign: FOREIGN_NAMES.filter((n) => all.has(n)) }
}
