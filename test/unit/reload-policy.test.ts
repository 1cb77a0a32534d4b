import { expect, test } from 'bun:test'
import { parseConfigText, loadConfig } from '../../src/config/load.ts'
import { APPLIED_ON_RELOAD, RESTART_REQUIRED, unclassified } from '../../src/config/reload-policy.ts'
import { diffConfigs } from '../../src/config/diff.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Every setting is either applied by a reload or listed as needing a restart: a new setting
// that nobody classified fails here instead of being silently ignored by reloads.
test('every setting of the resolved config is classified for reloads, exactly once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-reload-policy-'))
  expect(unclassified(loadConfig({}, {}, dir))).toEqual([])
  const both = APPLIED_ON_RELOAD.filter((s) => (RESTART_REQUIRED as readonly string[]).includes(s))
  expect(both).toEqual([])
})

test('a reload lists what it applied and what needs a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-reload-policy-'))
  const write = (text: string) => {
    const path = join(dir, 'sluice.yaml')
    writeFileSync(path, text)
    parseConfigText(text, path, {})
    return loadConfig({ config: path }, {}, dir)
  }
  const before = write('admin: { token: admin-token-before-0123456789 }\nlogging: { queue_size: 1000 }\n')
  const after = write('admin: { token: admin-token-after-0123456789 }\nlogging: { queue_size: 2000 }\nserver: { trusted_proxies: [10.0.0.1] }\n')
  const changes = diffConfigs(before, after)
  expect(changes.settings_applied).toEqual(['server.trusted_proxies', 'admin.token'])
  expect(changes.restart_required).toEqual(['logging.queue_size'])
  expect(JSON.stringify(changes)).not.toContain('admin-token-after')
})
