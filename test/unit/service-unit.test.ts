import { expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemdUnit } from '../../src/cli/service.ts'

// The unit `sluice service install` prints is complete and passes systemd's own check.
const unit = systemdUnit({ binary: '/usr/local/bin/sluice', config: '/etc/sluice/sluice.yaml', envFile: '/etc/sluice/env', user: 'sluice', shutdownGraceMs: 30_000 })

function sections(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  let current = ''
  for (const line of text.split('\n')) {
    const head = /^\[(\w+)\]$/.exec(line)
    if (head) out[(current = head[1]!)] = {}
    else if (current && /^\w+=/.test(line)) out[current]![line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
  }
  return out
}

test('the unit has a dedicated user, the state directory, the config and env file, hardening, and an install target', () => {
  const s = sections(unit)
  expect(Object.keys(s)).toEqual(['Unit', 'Service', 'Install'])
  expect(s.Service).toMatchObject({
    User: 'sluice', StateDirectory: 'sluice', EnvironmentFile: '-/etc/sluice/env', ExecStart: '/usr/local/bin/sluice serve --config /etc/sluice/sluice.yaml',
    NoNewPrivileges: 'true', ProtectSystem: 'strict', ProtectHome: 'true', PrivateTmp: 'true', CapabilityBoundingSet: '',
  })
  // systemd must wait longer than the drain before it kills.
  expect(Number(s.Service!.TimeoutStopSec)).toBeGreaterThan(30)
  expect(s.Install).toEqual({ WantedBy: 'multi-user.target' })
})

test('systemd-analyze verify accepts it', () => {
  const analyze = Bun.which('systemd-analyze')
  if (!analyze) throw new Error('systemd-analyze is not installed (Debian package systemd); CI installs it')
  const dir = mkdtempSync(join(tmpdir(), 'sluice-unit-'))
  const path = join(dir, 'sluice.service')
  // verify checks that the binary exists: point it at one that does, as the real install would.
  writeFileSync(path, unit.replace('/usr/local/bin/sluice', '/bin/true').replace(/^User=.*$/m, 'User=root').replace(/^Group=.*$/m, 'Group=root'))
  const r = Bun.spawnSync([analyze, 'verify', path], { stdout: 'pipe', stderr: 'pipe' })
  expect(r.stderr.toString()).toBe('')
  expect(r.exitCode).toBe(0)
})

test('sluice service install prints the unit for the binary that runs it, with the config given', async () => {
  const { runCli } = await import('../../src/cli/index.ts')
  const out: string[] = []
  const code = await runCli(['service', 'install', '--config', '/etc/sluice/other.yaml'], { write: (s: string) => out.push(s) }, { write: () => {} })
  expect(code).toBe(0)
  const s = sections(out.join(''))
  expect(s.Service!.ExecStart).toBe(`${process.execPath} serve --config /etc/sluice/other.yaml`)
  expect(out.join('')).toContain('journalctl -u sluice')
  const bad = await runCli(['service', 'start'], { write: () => {} }, { write: () => {} })
  expect(bad).toBe(2)
})
