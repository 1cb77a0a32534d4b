import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '../..')

/** The images a Markdown text shows: `![alt](path)` and `<img src="path">`, outside code blocks. */
function images(text: string): string[] {
  const prose = text.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '')
  const markdown = [...prose.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!)
  const html = [...prose.matchAll(/<img\b[^>]*\bsrc=["']([^"']+)["']/gi)].map((m) => m[1]!)
  return [...markdown, ...html]
}

const readmes = { 'README.md': 'en', 'README.zh-CN.md': 'zh' } as const

describe('the images the READMEs show', () => {
  for (const [name, lang] of Object.entries(readmes)) {
    test(`${name}: every image it links to is in the repository`, () => {
      const linked = images(readFileSync(join(root, name), 'utf8')).filter((src) => !/^[a-z]+:/i.test(src))
      expect(linked.length).toBeGreaterThan(0)
      expect(linked.filter((src) => !existsSync(join(root, decodeURIComponent(src.split('#')[0]!))))).toEqual([])
    })

    test(`${name}: the screenshots are the ${lang === 'en' ? 'English' : 'Chinese'} ones, every view in light and dark`, () => {
      const shots = images(readFileSync(join(root, name), 'utf8')).filter((src) => src.startsWith('docs/screenshots/'))
      const views = ['overview', 'providers', 'keys', 'usage', 'requests', 'connect']
      expect(shots.sort()).toEqual(views.flatMap((v) => [`docs/screenshots/${v}-${lang}-dark.png`, `docs/screenshots/${v}-${lang}-light.png`]).sort())
    })
  }

  test('the screenshots stay small: 1280 × 800 PNGs, 2.5 MB together at most', () => {
    const all = Object.values(readmes).flatMap((lang) => ['overview', 'providers', 'keys', 'usage', 'requests', 'connect'].flatMap((v) => ['light', 'dark'].map((t) => `docs/screenshots/${v}-${lang}-${t}.png`)))
    let total = 0
    for (const file of all) {
      const bytes = readFileSync(join(root, file))
      // A PNG's header, then its IHDR chunk with the width and height.
      expect(bytes.subarray(1, 4).toString()).toBe('PNG')
      expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1280, 800])
      total += statSync(join(root, file)).size
    }
    expect(total).toBeLessThan(2_500_000)
  })

  test('the image finder reads Markdown and HTML images and skips code blocks', () => {
    const text = ['![a](x.png)', '<img alt="b" src="y.png">', '```md', '![c](z.png)', '```', '![d](w.png "title")'].join('\n')
    expect(images(text)).toEqual(['x.png', 'w.png', 'y.png'])
  })
})
