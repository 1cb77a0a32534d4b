/**
 * Edit distance with adjacent transpositions (optimal string alignment), so `--prot` is one step
 * from `--port` and `--exipres` one from `--expires`.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/** The candidate nearest to `word`, if it is near enough to be what was meant (case is ignored). */
export function nearest(word: string, candidates: readonly string[]): string | null {
  const typed = word.toLowerCase()
  // A cut-short name (`--conf`) that starts exactly one candidate.
  const starts = typed.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(typed)) : []
  if (starts.length === 1) return starts[0]!
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(typed, c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  // One slip in four letters, two in six or more: further than that is a different word.
  return best !== null && bestDistance <= Math.max(1, Math.floor(typed.length / 3)) ? best : null
}
