// Builds dist/sluice: one executable holding the code, the migrations and the native libSQL addon.
import type { BunPlugin } from 'bun'

const libc = process.platform === 'linux' ? (isMusl() ? 'musl' : 'gnu') : null
const target = [process.platform, process.arch, libc].filter(Boolean).join('-')

// libsql picks its native addon with `require(\`@libsql/${target}\`)`, which a bundler cannot
// follow; rewrite it into a static require of this machine's addon so it is embedded.
const embedLibsqlAddon: BunPlugin = {
  name: 'embed-libsql-addon',
  setup(build) {
    build.onLoad({ filter: /node_modules[\\/]libsql[\\/]index\.js$/ }, async ({ path }) => {
      const source = await Bun.file(path).text()
      const dynamic = 'return require(`@libsql/${target}`);'
      if (!source.includes(dynamic)) throw new Error(`libsql changed its addon loading; update ${import.meta.path}`)
      return { contents: source.replace(dynamic, `return require("@libsql/${target}");`), loader: 'js' }
    })
  },
}

function isMusl(): boolean {
  const report = (process as unknown as { report?: { getReport(): { header?: { glibcVersionRuntime?: string } } } }).report
  return !report?.getReport().header?.glibcVersionRuntime
}

const result = await Bun.build({
  entrypoints: ['src/main.ts'],
  // Bun's 16 KiB header limit would answer a hostile 64 KiB header with a bare 431 before any
  // handler runs; above it, such a request gets the API's own 401.
  compile: { outfile: 'dist/sluice', execArgv: ['--max-http-header-size=262144'] },
  // Elysia reads handler parameter names to decide what to parse: keep identifiers intact.
  minify: { whitespace: true, syntax: true, identifiers: false },
  plugins: [embedLibsqlAddon],
})
if (!result.success) {
  for (const log of result.logs) console.error(log)
  process.exit(1)
}
console.log(`built dist/sluice for ${target}`)
