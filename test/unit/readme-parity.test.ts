import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// README.zh-CN.md is a translation of README.md: the same ## and ### sections in the same order,
// and the same fenced code blocks, byte for byte, in the same sections. A block whose text must
// differ (comments in Chinese inside a shell example) is marked in both files by the line
// `<!-- localized -->` right before its opening fence; then only its info string (`sh`, `yaml`...) has to match.
const root = join(import.meta.dir, '../..')
const LOCALIZED = '<!-- localized -->'

interface Heading {
  level: number
  text: string
  line: number
}
interface CodeBlock {
  /** The info string after the opening fence: `yaml`, `yaml docker-compose.yml`. */
  lang: string
  body: string
  localized: boolean
  /** Index of the ## or ### heading the block is under; -1 before the first one. */
  section: number
  line: number
}

/** The ## / ### headings and the fenced code blocks of a Markdown text, in order. */
function outline(text: string): { headings: Heading[]; blocks: CodeBlock[] } {
  const lines = text.split('\n')
  const headings: Heading[] = []
  const blocks: CodeBlock[] = []
  let open: { fence: string; lang: string; start: number; localized: boolean; body: string[] } | null = null
  for (const [i, line] of lines.entries()) {
    if (open) {
      if (line.trimEnd() === open.fence) {
        blocks.push({ lang: open.lang, body: open.body.join('\n'), localized: open.localized, section: headings.length - 1, line: open.start + 1 })
        open = null
      } else {
        open.body.push(line)
      }
      continue
    }
    const fence = /^(`{3,}|~{3,})(.*)$/.exec(line)
    if (fence) {
      open = { fence: fence[1]!, lang: fence[2]!.trim(), start: i, localized: lines[i - 1]?.trim() === LOCALIZED, body: [] }
      continue
    }
    const heading = /^(#{2,3})\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading) headings.push({ level: heading[1]!.length, text: heading[2]!, line: i + 1 })
  }
  if (open) throw new Error(`unclosed code block opened on line ${open.start + 1}`)
  return { headings, blocks }
}

const read = (name: string) => outline(readFileSync(join(root, name), 'utf8'))
const en = read('README.md')
const zh = read('README.zh-CN.md')
const show = (h: Heading | undefined) => (h ? `line ${h.line}: ${'#'.repeat(h.level)} ${h.text}` : '(none)')

describe('README.zh-CN.md follows README.md', () => {
  test('the same number of ## and of ### headings', () => {
    const count = (hs: Heading[], level: number) => hs.filter((h) => h.level === level).length
    expect({ '##': count(zh.headings, 2), '###': count(zh.headings, 3) }).toEqual({ '##': count(en.headings, 2), '###': count(en.headings, 3) })
  })

  test('every section has its counterpart at the same position', () => {
    const mismatches: string[] = []
    for (let i = 0; i < Math.max(en.headings.length, zh.headings.length); i++) {
      const a = en.headings[i]
      const b = zh.headings[i]
      if (a?.level !== b?.level) mismatches.push(`section ${i + 1}: README.md ${show(a)} <-> README.zh-CN.md ${show(b)}`)
    }
    expect(mismatches).toEqual([])
  })

  test('the same code blocks, in the same order and the same sections', () => {
    const mismatches: string[] = []
    for (let i = 0; i < Math.max(en.blocks.length, zh.blocks.length); i++) {
      const a = en.blocks[i]
      const b = zh.blocks[i]
      if (!a || !b) {
        const [has, lacks] = a ? ['README.md', 'README.zh-CN.md'] : ['README.zh-CN.md', 'README.md']
        mismatches.push(`block ${i + 1} (${has} line ${(a ?? b)!.line}) has no counterpart in ${lacks}`)
        continue
      }
      const where = `block ${i + 1} (README.md line ${a.line}, README.zh-CN.md line ${b.line})`
      if (a.section !== b.section) {
        mismatches.push(`${where} is under ${show(en.headings[a.section])} in one and ${show(zh.headings[b.section])} in the other`)
      }
      if (a.localized !== b.localized) mismatches.push(`${where} is marked ${LOCALIZED} in only one README`)
      else if (a.lang !== b.lang) mismatches.push(`${where}: \`\`\`${a.lang} <-> \`\`\`${b.lang}`)
      else if (!a.localized && a.body !== b.body) mismatches.push(`${where} differs:\n${a.body}\n<->\n${b.body}`)
    }
    expect(mismatches).toEqual([])
  })
})

describe('the outline the parity checks read', () => {
  test('headings inside code blocks are not sections, and a block knows its section', () => {
    const text = ['# title', '## One', '```sh', '## not a heading', '```', '### Two', LOCALIZED, '```yaml compose.yml', 'a: 1', '```'].join('\n')
    const { headings, blocks } = outline(text)
    expect(headings.map((h) => `${h.level} ${h.text}`)).toEqual(['2 One', '3 Two'])
    expect(blocks).toEqual([
      { lang: 'sh', body: '## not a heading', localized: false, section: 0, line: 3 },
      { lang: 'yaml compose.yml', body: 'a: 1', localized: true, section: 1, line: 8 },
    ])
  })
})
