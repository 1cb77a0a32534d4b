// `npm run release`: the single executable for every platform, each with the libSQL addon of its
// platform, in dist/release/sluice-<version>-<target>[.exe], with SHA256SUMS beside them.
//
//   npm run release                                          every target
//   npm run release -- --targets linux-arm64,darwin-arm64    some (or SLUICE_RELEASE_TARGETS=...)
//   npm run release -- --outdir DIR                          somewhere else than dist/release
//
// Bun fetches each target's runtime from the npm registry (@oven/bun-<os>-<arch>) and caches it;
// the addons come from node_modules or, for other platforms, the registry (scripts/lib/libsql-addon.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { compileSluice } from './lib/compile.ts'
import { libsqlAddon } from './lib/libsql-addon.ts'

interface ReleaseTarget {
  /** In the file name: sluice-<version>-<name>. */
  name: string
  bun: Bun.Build.CompileTarget
  /** libsql's addon package for that platform. */
  addon: string
}

const TARGETS: ReleaseTarget[] = [
  { name: 'linux-x64', bun: 'bun-linux-x64', addon: '@libsql/linux-x64-gnu' },
  { name: 'linux-arm64', bun: 'bun-linux-arm64', addon: '@libsql/linux-arm64-gnu' },
  { name: 'linux-x64-musl', bun: 'bun-linux-x64-musl', addon: '@libsql/linux-x64-musl' },
  { name: 'linux-arm64-musl', bun: 'bun-linux-arm64-musl', addon: '@libsql/linux-arm64-musl' },
  { name: 'darwin-x64', bun: 'bun-darwin-x64', addon: '@libsql/darwin-x64' },
  { name: 'darwin-arm64', bun: 'bun-darwin-arm64', addon: '@libsql/darwin-arm64' },
  { name: 'windows-x64', bun: 'bun-windows-x64', addon: '@libsql/win32-x64-msvc' },
]

const ROOT = resolve(import.meta.dir, '..')

const { values } = parseArgs({
  options: { targets: { type: 'string' }, outdir: { type: 'string' }, help: { type: 'boolean' } },
  strict: true,
})
if (values.help) {
  console.log(`usage: npm run release [-- --targets ${TARGETS.map((t) => t.name).join(',')}] [--outdir DIR]`)
  process.exit(0)
}

const wanted = (values.targets ?? process.env.SLUICE_RELEASE_TARGETS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const unknown = wanted.filter((w) => !TARGETS.some((t) => t.name === w))
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}; the targets are ${TARGETS.map((t) => t.name).join(', ')}`)
  process.exit(2)
}
const targets = wanted.length > 0 ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS

// npm runs scripts in the package root; a relative --outdir is from where `npm run` was typed.
const outdir = values.outdir ? resolve(process.env.INIT_CWD ?? process.cwd(), values.outdir) : join(ROOT, 'dist', 'release')
process.chdir(ROOT)
const version: string = JSON.parse(readFileSync('package.json', 'utf8')).version
mkdirSync(outdir, { recursive: true })
// Earlier releases (any version) go, so SHA256SUMS describes exactly what is in the directory.
for (const f of readdirSync(outdir)) {
  if (f === 'SHA256SUMS' || f.startsWith('sluice-')) rmSync(join(outdir, f), { force: true })
}

interface Built {
  target: ReleaseTarget
  file: string
  bytes: number
  seconds: number
  addon: string
}

/** The addon really is in the binary: a slice from the middle of it is found there verbatim. */
async function embeds(binary: string, addon: string): Promise<boolean> {
  const lib = new Uint8Array(await Bun.file(addon).arrayBuffer())
  const mid = Math.floor(lib.length / 2)
  return Buffer.from(await Bun.file(binary).arrayBuffer()).indexOf(lib.subarray(mid, mid + 4096)) !== -1
}

const built: Built[] = []
for (const target of targets) {
  const addon = await libsqlAddon(target.addon)
  const file = `sluice-${version}-${target.name}${target.name.startsWith('windows') ? '.exe' : ''}`
  const outfile = join(outdir, file)
  process.stdout.write(`${target.name}: ${target.bun} with ${addon.name}@${addon.version} (${addon.source}) ... `)
  const started = performance.now()
  try {
    await compileSluice({ outfile, addon: addon.path, target: target.bun })
  } catch (err) {
    console.log('failed')
    console.error((err as Error).message)
    process.exit(1)
  }
  const seconds = (performance.now() - started) / 1000
  if (!existsSync(outfile)) throw new Error(`Bun reported success but wrote no ${outfile}`)
  if (!(await embeds(outfile, addon.path))) throw new Error(`${file} does not contain ${addon.name}'s index.node`)
  built.push({ target, file, bytes: statSync(outfile).size, seconds, addon: `${addon.name}@${addon.version}` })
  console.log(`${seconds.toFixed(1)} s`)
}

// The format of sha256sum, so `sha256sum -c SHA256SUMS` checks a download.
const sums = await Promise.all(
  built.map(async (b) => `${new Bun.CryptoHasher('sha256').update(await Bun.file(join(outdir, b.file)).arrayBuffer()).digest('hex')}  ${b.file}\n`),
)
writeFileSync(join(outdir, 'SHA256SUMS'), sums.join(''))

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
const rows = [['target', 'file', 'size', 'build', 'libSQL addon'], ...built.map((b) => [b.target.name, b.file, mb(b.bytes), `${b.seconds.toFixed(1)} s`, b.addon])]
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
const line = (r: string[]) => r.map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
const shown = relative(ROOT, outdir).startsWith('..') ? outdir : relative(ROOT, outdir)
console.log(`\nsluice ${version} in ${shown}:\n`)
console.log(line(rows[0]!))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows.slice(1)) console.log(line(r))
const total = built.reduce((s, b) => s + b.seconds, 0)
console.log(`\n${built.length} binaries, ${mb(built.reduce((s, b) => s + b.bytes, 0))}, ${total.toFixed(1)} s; checksums in ${join(shown, 'SHA256SUMS')}`)
