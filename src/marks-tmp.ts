// temporary: timing marks per request, medians printed on SIGUSR2
const marks: Record<string, number[]> = {}
let last = 0
let base = 0
;(globalThis as any).__mark = (name: string, reset = false) => {
  const t = performance.now()
  if (reset) { base = t; last = t; return }
  ;(marks[name] ??= []).push(t - last)
  ;(marks[name + '@'] ??= []).push(t - base)
  last = t
}
process.on('SIGUSR2', () => {
  const out: string[] = []
  for (const [k, v] of Object.entries(marks)) {
    const s = [...v].sort((a, b) => a - b)
    out.push(`${k.padEnd(24)} n=${s.length} p50=${(s[s.length >> 1]! * 1000).toFixed(0)}us`)
  }
  console.error(out.join('\n'))
  for (const k of Object.keys(marks)) delete marks[k]
})
