// The native libSQL addon of any platform, for cross-compiled binaries. npm installs only this
// machine's (`libsql` lists them all as optional dependencies); the others are fetched from the
// npm registry with `npm pack`, checked against package-lock.json, and kept in a cache directory.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '../..')
export const ADDON_CACHE = join(ROOT, '.cache', 'libsql-addons')

export interface Addon {
  /** The package, such as `@libsql/linux-arm64-gnu`. */
  name: string
  version: string
  /** Absolute path of its index.node. */
  path: string
  /** Where it came from: node_modules or the cache (fetched now or before). */
  source: 'node_modules' | 'cache' | 'registry'
}

const readJson = (path: string): any => JSON.parse(readFileSync(path, 'utf8'))

/** The exact version of `name` that the installed libsql was published with. */
export function addonVersion(name: string): string {
  const libsql = readJson(join(ROOT, 'node_modules', 'libsql', 'package.json'))
  const version = libsql.optionalDependencies?.[name]
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(`libsql ${libsql.version} has no exact optional dependency ${name} (found ${version ?? 'none'})`)
  }
  return version
}

/** The addon package `name` at the version libsql needs: installed, cached, or fetched now. */
export async function libsqlAddon(name: string): Promise<Addon> {
  const version = addonVersion(name)
  const installed = join(ROOT, 'node_modules', name)
  if (existsSync(join(installed, 'index.node')) && readJson(join(installed, 'package.json')).version === version) {
    return { name, version, path: join(installed, 'index.node'), source: 'node_modules' }
  }
  const cached = join(ADDON_CACHE, `${name.replace('@libsql/', '')}-${version}`, 'index.node')
  if (existsSync(cached)) return { name, version, path: cached, source: 'cache' }
  await fetchAddon(name, version, cached)
  return { name, version, path: cached, source: 'registry' }
}

async function run(cmd: string[], cwd: string): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}:\n${err.trim()}`)
  return out
}

async function fetchAddon(name: string, version: string, dest: string): Promise<void> {
  mkdirSync(ADDON_CACHE, { recursive: true })
  const work = mkdtempSync(join(ADDON_CACHE, '.fetch-'))
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const packed = JSON.parse(await run([npm, 'pack', `${name}@${version}`, '--json', '--ignore-scripts', '--pack-destination', work], work))
    const tarball = join(work, packed[0].filename)
    const integrity = `sha512-${new Bun.CryptoHasher('sha512').update(await Bun.file(tarball).arrayBuffer()).digest('base64')}`
    // The lockfile records every platform's addon (they are optional dependencies of libsql):
    // what the registry gives now must be what was locked.
    const locked = readJson(join(ROOT, 'package-lock.json')).packages?.[`node_modules/${name}`]
    if (!locked) throw new Error(`${name} is not in package-lock.json; refusing an unlocked native addon`)
    if (locked.version !== version || locked.integrity !== integrity) {
      throw new Error(`${name}@${version} from the registry (${integrity}) differs from package-lock.json (${locked.version}, ${locked.integrity})`)
    }
    await run(['tar', '-xzf', tarball, '-C', work, 'package/index.node'], work)
    mkdirSync(dirname(dest), { recursive: true })
    renameSync(join(work, 'package', 'index.node'), dest)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
