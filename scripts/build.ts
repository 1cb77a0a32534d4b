// Builds dist/sluice: one executable holding the code, the migrations and the native libSQL addon.
// `npm run release` builds the same executable for every platform (scripts/release.ts).
import { compileSluice, hostAddonTarget } from './lib/compile.ts'

const target = hostAddonTarget()
try {
  // This machine's addon, as npm installed it.
  await compileSluice({ outfile: 'dist/sluice', addon: `@libsql/${target}` })
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}
console.log(`built dist/sluice for ${target}`)
