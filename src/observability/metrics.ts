/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format. Names follow Prometheus conventions (`_total`, `_seconds`, base units).
 */
type Labels = Record<string, string>

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''
}
// Each metric is always given its labels in the same order, so the values alone identify a series.
const keyOf = (labels: Labels) => {
  let key = ''
  for (const k in labels) key += labels[k] + '\u0001'
  return key
}
const num = (n: number) => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12))))

/**
 * Series found by their label values through nested maps: a lookup on a hot path builds no key
 * string (and the strings it is given already exist). `make` runs once per new combination.
 */
export class SeriesLookup<T> {
  private root = new Map<string | number, unknown>()
  constructor(private readonly make: (values: ReadonlyArray<string | number>) => T) {}
  get(...values: Array<string | number>): T {
    let node = this.root
    const last = values.length - 1
    for (let i = 0; i < last; i++) {
      let next = node.get(values[i]!) as Map<string | number, unknown> | undefined
      if (!next) node.set(values[i]!, (next = new Map()))
      node = next
    }
    let leaf = node.get(values[last]!) as T | undefined
    if (leaf === undefined) node.set(values[last]!, (leaf = this.make(values)))
    return leaf
  }
}

interface Metric {
  render(): string
}

export class Counter implements Metric {
  private values = new Map<string, { labels: Labels; value: number }>()
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value += by
  }
  /** The series of these labels, to keep and increment without looking it up again. */
  series(labels: Labels): { value: number } {
    const k = keyOf(labels)
    let entry = this.values.get(k)
    if (!entry) this.values.set(k, (entry = { labels, value: 0 }))
    return entry
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`)
    return lines.join('\n')
  }
}

export class Gauge implements Metric {
  private values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    /** Read at scrape time, for values owned elsewhere. */
    private readonly collect?: (gauge: Gauge) => void,
  ) {}
  set(labels: Labels, value: number): void {
    this.values.set(keyOf(labels), { labels, value })
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels)
    const entry = this.values.get(k)
    if (entry) entry.value += by
    else this.values.set(k, { labels, value: by })
  }
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by)
  }
  render(): string {
    if (this.collect) {
      this.values.clear()
      this.collect(this)
    }
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`]
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`)
    return lines.join('\n')
  }
}

interface HistogramSeries {
  labels: Labels
  counts: number[]
  sum: number
  count: number
}

export class Histogram implements Metric {
  private series = new Map<string, HistogramSeries>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(labels: Labels, value: number): void {
    this.observeIn(this.seriesOf(labels), value)
  }
  /** The series of these labels, to keep and observe into without looking it up again. */
  seriesOf(labels: Labels): HistogramSeries {
    const k = keyOf(labels)
    let s = this.series.get(k)
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }))
    return s
  }
  observeIn(s: HistogramSeries, value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++
    s.sum += value
    s.count++
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`))
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`)
      lines.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`)
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`)
    }
    return lines.join('\n')
  }
}

export class Registry {
  private metrics: Metric[] = []
  add<M extends Metric>(metric: M): M {
    this.metrics.push(metric)
    return metric
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n'
  }
}
