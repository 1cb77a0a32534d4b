/**
 * What one instance remembers so that Redis's quota counters hold every request once, whatever
 * happens to Redis. Every quota usage this instance counts goes to its memory store (for the
 * database, as increments) and is noted here with the Redis generation that counted it too, or
 * none (counted while Redis was away, or a call that never reached it).
 *
 * A generation is the database's usage cut at the moment Redis was seeded: the reseeder bumps the
 * cut and reads the usage in one transaction, and every flush of usage reads the cut in its own
 * transaction, so each flush knows whether the seed's figures include it (cut below the
 * generation) or not. When this instance syncs with a Redis of generation G, Redis lacks what was
 * not counted in G and not in the database figures G was seeded with: that is added, and nothing
 * else, so neither an instance reconnecting late nor usage counted around a restart is counted
 * twice or lost.
 *
 * An entry can be forgotten once its flush saw the cut equal to the generation that counted it:
 * Redis has it, and any later seed reads it from the database. So in steady state the ledger holds
 * only the usage of the last second; while Redis is away it holds one merged entry per key and period.
 */
import { sumInto } from '../gateway/access/limits/store.ts'
import type { PeriodUsage } from '../gateway/access/limits/store.ts'

export interface UsageDelta {
  keyId: string
  periodStart: number
  usage: PeriodUsage
  /** When the period ends (its Redis hash expires after it); unknown for usage the fallback counted. */
  periodEnd?: number
}

/** The Redis generation that counted an entry; null: none did; undefined: its call is on its way. */
type Counted = number | null | undefined

export interface LedgerEntry {
  row: UsageDelta
  countedIn: Counted
  /** The flush that takes it to the database. */
  batch: number
}

/** What a sync adds to Redis: one row per key and period, and what to do once Redis has it. */
export interface LackingRow {
  row: UsageDelta
  added(): void
}

/** Compaction runs when the ledger has doubled since the last one, so its cost per entry is constant. */
const COMPACT_FLOOR = 4_096

export class UsageLedger {
  private readonly entries = new Set<LedgerEntry>()
  /** The batch that new entries belong to: the next flush takes it. */
  private batch = 0
  /** Saved batches: every batch up to `through` (and after the previous range) was saved with `cut`. */
  private saves: Array<{ through: number; cut: number }> = []
  private compactAt = COMPACT_FLOOR
  private syncing = false

  /** Notes usage counted in memory; `countedIn` may follow with `resolve` once Redis answered. */
  note(row: UsageDelta, countedIn: Counted): LedgerEntry {
    const entry: LedgerEntry = { row, countedIn, batch: this.batch }
    this.entries.add(entry)
    if (this.entries.size >= this.compactAt) this.compact()
    return entry
  }

  resolve(entry: LedgerEntry, countedIn: number | null): void {
    entry.countedIn = countedIn
    if (this.safe(entry)) this.entries.delete(entry)
  }

  /** The flusher took the memory store's usage: what was noted so far goes with that flush. */
  taken(): number {
    return this.batch++
  }

  /** A flush saved everything up to `batch` (earlier failed ones included), having seen `cut`. */
  saved(batch: number, cut: number): void {
    const last = this.saves.at(-1)
    if (last && last.through >= batch) return
    this.saves.push({ through: batch, cut })
    let oldest = Infinity
    for (const e of this.entries) {
      if (this.safe(e)) this.entries.delete(e)
      else if (e.batch < oldest) oldest = e.batch
    }
    // Ranges no entry points into are forgotten.
    while (this.saves.length > 1 && this.saves[0]!.through < oldest) this.saves.shift()
  }

  /** The usage a Redis of generation `gen` lacks. Entries whose call is on its way are left for later. */
  lacking(gen: number): LackingRow[] {
    const groups = new Map<string, { row: UsageDelta; entries: LedgerEntry[] }>()
    for (const e of this.entries) {
      if (e.countedIn === undefined || e.countedIn === gen) continue
      const cut = this.cutOf(e)
      // In the database before the seed of `gen` read it: Redis has it from there.
      if (cut !== undefined && cut < gen) {
        this.entries.delete(e)
        continue
      }
      const k = `${e.row.keyId}\u0000${e.row.periodStart}`
      const g = groups.get(k)
      if (!g) groups.set(k, { row: { ...e.row, usage: { ...e.row.usage } }, entries: [e] })
      else {
        sumInto(g.row.usage, e.row.usage)
        g.row.periodEnd ??= e.row.periodEnd
        g.entries.push(e)
      }
    }
    this.syncing = true
    return [...groups.values()].map(({ row, entries }) => ({
      row,
      added: () => {
        for (const e of entries) {
          if (!this.entries.has(e)) continue
          e.countedIn = gen
          if (this.safe(e)) this.entries.delete(e)
        }
      },
    }))
  }

  /** The sync is over (rows not `added` stay lacking for the next one). */
  synced(): void {
    this.syncing = false
  }

  get size(): number {
    return this.entries.size
  }

  private cutOf(e: LedgerEntry): number | undefined {
    for (const s of this.saves) if (s.through >= e.batch) return s.cut
    return undefined
  }

  /** Redis has it, and the database had it before any later seed could read it. */
  private safe(e: LedgerEntry): boolean {
    return typeof e.countedIn === 'number' && this.cutOf(e) === e.countedIn
  }

  /** Merges entries alike (same key, period, counter and flush); never while a sync holds some. */
  private compact(): void {
    if (!this.syncing) {
      const merged = new Map<string, LedgerEntry>()
      const copied = new Set<LedgerEntry>()
      for (const e of this.entries) {
        if (e.countedIn === undefined) continue
        const cut = this.cutOf(e)
        const k = `${e.row.keyId}\u0000${e.row.periodStart}\u0000${e.countedIn}\u0000${cut === undefined ? `b${e.batch}` : `c${cut}`}`
        const m = merged.get(k)
        if (!m) {
          merged.set(k, e)
          continue
        }
        // The first entry's row may be its caller's: merged into a copy.
        if (!copied.has(m)) {
          m.row = { ...m.row, usage: { ...m.row.usage } }
          copied.add(m)
        }
        sumInto(m.row.usage, e.row.usage)
        m.row.periodEnd ??= e.row.periodEnd
        // The later batch: its cut is the same, or (unsaved) it is saved with or after the other.
        m.batch = Math.max(m.batch, e.batch)
        this.entries.delete(e)
      }
    }
    this.compactAt = Math.max(COMPACT_FLOOR, this.entries.size * 2)
  }
}
