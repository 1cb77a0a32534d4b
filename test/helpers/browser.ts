import { existsSync, mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'

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

/** The sRGB channels of a computed `rgb(...)` / `rgba(...)` colour. */
export function parseRgb(css: string): [number, number, number] {
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/.exec(css)
  if (!m) throw new Error(`not an rgb() colour: ${css}`)
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** WCAG 2 contrast ratio of two computed colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const luminance = (css: string) => {
    const [r, g, b] = parseRgb(css).map((c) => {
      const s = c / 255
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
    }) as [number, number, number]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}

/**
 * Runs in the page: the text a user sees (text nodes of visible elements, and the placeholders,
 * labels and titles of visible controls), leaving out data shown as it is (`translate="no"`,
 * `<code>`). For checking that a translated page has no strings left in another language.
 */
export function visibleUiText(): string[] {
  const doc = (globalThis as any).document
  const out: string[] = []
  const shown = (el: any) => (el.closest('option') ? el.closest('select') : el).checkVisibility()
  const walker = doc.createTreeWalker(doc.body, 4 /* NodeFilter.SHOW_TEXT */)
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement
    const text = node.textContent.trim()
    if (!text || !el || el.closest('[translate=no],code,script,style,datalist') || !shown(el)) continue
    out.push(text)
  }
  for (const el of doc.querySelectorAll('[placeholder],[aria-label],[title]')) {
    if (el.closest('[translate=no],code') || !shown(el)) continue
    for (const attr of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(attr)) out.push(el.getAttribute(attr))
  }
  return out
}

const AXE_SOURCE = Bun.resolveSync('axe-core/axe.min.js', import.meta.dir)

/**
 * Runs axe-core in the page (injected as an inline script, which the dashboard's CSP allows) and
 * returns its violations of the given impacts, one readable line per element.
 */
export async function axeViolations(page: Page, impacts: readonly string[] = ['serious', 'critical']): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ content: await Bun.file(AXE_SOURCE).text() })
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as any).axe
    const result = await axe.run((globalThis as any).document, { resultTypes: ['violations'] })
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n: any) => ({ target: n.target.join(' '), summary: n.failureSummary })) }))
  })
  return violations
    .filter((v: { impact: string }) => impacts.includes(v.impact))
    .flatMap((v: { id: string; impact: string; help: string; nodes: Array<{ target: string; summary: string }> }) =>
      v.nodes.map((n) => `${v.impact} ${v.id} (${v.help}) at ${n.target}: ${n.summary.replace(/\s*\n\s*/g, ' ')}`),
    )
}
