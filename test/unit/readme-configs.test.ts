import { expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseConfigText } from '../../src/config/load.ts'

// Every YAML example in the READMEs is a config (or a part of one) that sluice accepts as written.
const readmes = ['README.md', 'README.zh-CN.md'].map((name) => join(import.meta.dir, '../..', name))

for (const path of readmes) {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    continue
  }
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
  test(`the YAML examples of ${path.split('/').pop()} are valid configs`, () => {
    expect(blocks.length).toBeGreaterThan(0)
    for (const block of blocks) {
      // Each ${VAR} the example reads is given a value, as a user's environment would.
      const env = Object.fromEntries([...block.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => [m[1]!, 'sk-example-value']))
      expect(() => parseConfigText(block, 'README example.yaml', env)).not.toThrow()
    }
  })
}
