import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileLimitStore } from '../../src/scale/limits-file.ts'

const dir = mkdtempSync(join(tmpdir(), 'sluice-limits-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('limits shared by workers through one file', () => {
  test('two workers on one file: the limits hold across them; each writes back only its own usage', () => {
    const path = join(dir, 'a.db')
    const a = new FileLimitStore(path, 0)
    const b = new FileLimitStore(path, 1)
    const limits = { requests: 10, tokens: null, budgetUsd: null }
    let allowed = 0
    for (let i = 0; i < 30; i++) if ((i % 2 ? a : b).reserveQuota('key', 1000, 5, limits).allowed) allowed++
    expect(allowed).toBe(10)
    expect(a.usage('key', 1000)).toEqual({ requests: 10, tokens: 50, costUsd: 0 })
    const mine = [...a.takeDirty(), ...b.takeDirty()]
    expect(mine.reduce((n, r) => n + r.usage.requests, 0)).toBe(10)
    expect(a.takeDirty()).toEqual([])
    // rpm as GCRA across both.
    let passed = 0
    for (let i = 0; i < 20; i++) if ((i % 2 ? a : b).take('rpm:key', 1, 6, 60_000, 5000).allowed) passed++
    expect(passed).toBe(6)
    // Concurrency across both; a restarted worker's slots are gone.
    expect(a.acquire('conc', 2)).toBe(true)
    expect(b.acquire('conc', 2)).toBe(true)
    expect(a.acquire('conc', 2)).toBe(false)
    b.close()
    const b2 = new FileLimitStore(path, 1)
    expect(a.acquire('conc', 2)).toBe(true)
    a.release('conc')
    a.close()
    b2.close()
  })

  test('a seed from the database does not overwrite a period another worker already counts in', () => {
    const path = join(dir, 'b.db')
    const a = new FileLimitStore(path, 0)
    a.load('k', 100, { requests: 3, tokens: 0, costUsd: 0 })
    a.reserveQuota('k', 100, 0, { requests: null, tokens: null, budgetUsd: null })
    const b = new FileLimitStore(path, 1)
    b.load('k', 100, { requests: 3, tokens: 0, costUsd: 0 })
    expect(b.usage('k', 100).requests).toBe(4)
    // A newer period replaces an older one.
    b.load('k', 200, { requests: 1, tokens: 0, costUsd: 0 })
    expect(a.usage('k', 200).requests).toBe(1)
    a.close()
    b.close()
  })

  test('a check costs a few microseconds (bounded loop)', () => {
    const store = new FileLimitStore(join(dir, 'c.db'), 0)
    const until = performance.now() + 300
    let n = 0
    while (performance.now() < until) {
      store.take(`rpm:${n % 50}`, 1, 1_000_000, 60_000, Date.now())
      n++
    }
    console.log(`file limit store: ${((300 * 1000) / n).toFixed(1)} µs per check (${n} checks in 300 ms)`)
    expect(n).toBeGreaterThan(100)
    store.close()
  })
})
