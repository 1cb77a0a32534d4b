// What scripts/build.ts (this machine's binary) and scripts/release.ts (every platform's) share:
// the Bun.build options of the single executable and the plugin that embeds a libSQL addon.
import type { BunPlugin } from 'bun'

/** libsql's name for this machine's addon: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`... */
export function hostAddonTarget(): string {
  const libc = process.platform === 'linux' ? (isMusl() ? 'musl' : 'gnu') : null
  const target = [process.platform, process.arch, libc].filter(Boolean).join('-')
  return process.platform === 'win32' ? `${target}-msvc` : target
}

function isMusl(): boolean {
  const report = (process as unknown as { report?: { getReport(): { header?: { glibcVersionRuntime?: string } } } }).report
  return !report?.getReport().header?.glibcVersionRuntime
}

/**
 * libsql picks its native addon with `require(\`@libsql/${target}\`)`, which a bundler cannot
 * follow; this rewrites it into a static require of `addon` so that addon is embedded and loaded
 * whatever the machine the binary runs on. `addon` is a package name (`@libsql/linux-x64-gnu`,
 * resolved from node_modules) or the absolute path of an `index.node` of any platform.
 */
export function embedLibsqlAddon(addon: string): BunPlugin {
  return {
    name: 'embed-libsql-addon',
    setup(build) {
      build.onLoad({ filter: /node_modules[\\/]libsql[\\/]index\.js$/ }, async ({ path }) => {
        const source = await Bun.file(path).text()
        const dynamic = 'return require(`@libsql/${target}`);'
        if (!source.includes(dynamic)) throw new Error(`libsql changed its addon loading; update ${import.meta.path}`)
        return { contents: source.replace(dynamic, `return require(${JSON.stringify(addon)});`), loader: 'js' }
      })
    },
  }
}

export interface CompileOptions {
  outfile: string
  /** The addon to embed: see embedLibsqlAddon. */
  addon: string
  /** Bun's cross-compilation target (`bun-linux-arm64`...); none: this machine's. */
  target?: Bun.Build.CompileTarget
}

/** Compiles src/main.ts into one executable; throws with Bun's messages when the build fails. */
export async function compileSluice({ outfile, addon, target }: CompileOptions): Promise<void> {
  const result = await Bun.build({
    entrypoints: ['src/main.ts'],
    // Bun's 16 KiB header limit would answer a hostile 64 KiB header with a bare 431 before any
    // handler runs; above it, such a request gets the API's own 401.
    compile: { ...(target ? { target } : {}), outfile, execArgv: ['--max-http-header-size=262144'] },
    // Elysia reads handler parameter names to decide what to parse: keep identifiers intact.
    minify: { whitespace: true, syntax: true, identifiers: false },
    plugins: [embedLibsqlAddon(addon)],
    throw: false,
  })
  if (!result.success) throw new AggregateError(result.logs, `building ${outfile} failed:\n${result.logs.map(String).join('\n')}`)
}
