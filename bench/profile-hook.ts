// Preloaded into the gateway by bench/profile.ts: on SIGUSR2, JavaScriptCore's sampling profiler
// records the main thread for PROFILE_MS and writes its stack traces to PROFILE_OUT as JSON.
import { profile } from 'bun:jsc'
import { writeFileSync } from 'node:fs'

process.on('SIGUSR2', async () => {
  const report = await profile(() => Bun.sleep(Number(process.env.PROFILE_MS ?? 4000)), 100)
  writeFileSync(process.env.PROFILE_OUT!, JSON.stringify(report.stackTraces))
})
