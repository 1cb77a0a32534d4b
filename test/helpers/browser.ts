import { existsSync, mkdirSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[]

export const chromiumPath = CANDIDATES.find((p) => existsSync(p)) ?? null

/** Debian's Chromium, headless; flags keep it off the network this machine does not have. */
export async function launchBrowser(): Promise<Browser> {
  if (!chromiumPath) throw new Error('Chromium not found: apt-get install chromium (the CI script does)')
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
}

export const ARTIFACTS = 'test-artifacts'

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true })
  return `${ARTIFACTS}/${name}`
}
