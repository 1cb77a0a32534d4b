import { describe, expect, test } from 'bun:test'
import { UsageLedger, type UsageDelta } from '../../src/scale/usage-ledger.ts'

// The ledger decides what a Redis of a generation lacks of this instance's usage. A generation is
// the database's usage cut when Redis was seeded; each flush says the cut it saw.

const row = (requests: number, keyId = 'k'): UsageDelta => ({ keyId, periodStart: 0, usage: { requests, tokens: requests * 10, costUsd: 0 } })
const lacking = (l: UsageLedger, gen: number) => {
  const rows = l.lacking(gen)
  l.synced()
  return rows.map((r) => r.row.usage.requests)
}

describe('the usage ledger', () => {
  test('steady state: usage Redis counted is forgotten once a flush saw its generation', () => {
    const l = new UsageLedger()
    for (let i = 0; i < 100; i++) l.note(row(1), 3)
    expect(l.size).toBe(100)
    const batch = l.taken()
    l.saved(batch, 3)
    expect(l.size).toBe(0)
  })

  test('Redis back with its counters: what was counted here alone is lacking, whether flushed or not', () => {
    const l = new UsageLedger()
    l.note(row(2), null)
    l.saved(l.taken(), 3)
    l.note(row(5), null)
    l.note(row(7), 3)
    expect(lacking(l, 3)).toEqual([7])
  })

  test('Redis reseeded: usage the seed read from the database is not added again; later usage is', () => {
    const l = new UsageLedger()
    // Counted in the old Redis (3) and alone, all flushed before the seed bumped the cut to 4.
    l.note(row(1), 3)
    l.note(row(2), null)
    l.saved(l.taken(), 3)
    // Counted in the old Redis just before it went, flushed after the seed: the seed lacks it.
    l.note(row(4), 3)
    l.saved(l.taken(), 4)
    // Not flushed yet: lacking either way.
    l.note(row(8), null)
    // Counted in the new generation: Redis has it.
    l.note(row(16), 4)
    expect(lacking(l, 4)).toEqual([12])
    // Added once: a second sync adds nothing.
    const rows = l.lacking(4)
    expect(rows.map((r) => r.row.usage.requests)).toEqual([12])
  })

  test('added rows are not lacking again; rows not added (a failed sync) are', () => {
    const l = new UsageLedger()
    l.note(row(1, 'a'), null)
    l.note(row(2, 'b'), null)
    const rows = l.lacking(1)
    rows.find((r) => r.row.keyId === 'a')!.added()
    l.synced()
    expect(lacking(l, 1)).toEqual([2])
  })

  test('an entry whose call is on its way is left out until resolved', () => {
    const l = new UsageLedger()
    const e = l.note(row(3), undefined)
    expect(lacking(l, 1)).toEqual([])
    l.resolve(e, null)
    expect(lacking(l, 1)).toEqual([3])
  })

  test('a failed flush keeps its entries for the next one, which saves them with its cut', () => {
    const l = new UsageLedger()
    l.note(row(1), 5)
    l.taken() // this flush fails: no saved()
    l.note(row(1), 5)
    l.saved(l.taken(), 6)
    // Both went with the second save, after a seed of 6: Redis 6 lacks them.
    expect(lacking(l, 6)).toEqual([2])
  })

  test('a long outage stays small: entries alike are merged', () => {
    const l = new UsageLedger()
    l.saved(l.taken(), 2)
    for (let i = 0; i < 100_000; i++) {
      l.note(row(1, `k${i % 3}`), null)
      if (i % 1000 === 999) l.saved(l.taken(), 2)
    }
    expect(l.size).toBeLessThan(10_000)
    expect(lacking(l, 2).reduce((a, b) => a + b, 0)).toBe(100_000)
  })
})
