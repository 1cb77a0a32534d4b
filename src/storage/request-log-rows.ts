import { LATENCY_BUCKETS_MS, type requestLog } from './schema.ts'

export type LogRow = typeof requestLog.$inferInsert
/** A request-log row as the values of its columns, in COLUMNS order: what travels and is bound. */
export type RowValues = Array<string | number | null>

export const COLUMNS: ReadonlyArray<[column: string, field: keyof LogRow]> = [
  ['ts', 'ts'], ['request_id', 'requestId'], ['key_id', 'keyId'], ['key_name', 'keyName'], ['client_ip', 'clientIp'],
  ['method', 'method'], ['endpoint', 'endpoint'], ['model', 'model'], ['alias', 'alias'], ['provider', 'provider'],
  ['upstream_model', 'upstreamModel'], ['upstream_key', 'upstreamKey'], ['status', 'status'], ['error_type', 'errorType'],
  ['error_message', 'errorMessage'], ['attempts', 'attempts'], ['stream', 'stream'], ['latency_ms', 'latencyMs'],
  ['ttft_ms', 'ttftMs'], ['prompt_tokens', 'promptTokens'], ['completion_tokens', 'completionTokens'],
  ['cached_tokens', 'cachedTokens'], ['reasoning_tokens', 'reasoningTokens'], ['cost_usd', 'costUsd'],
  ['usage_source', 'usageSource'], ['delivered_events', 'deliveredEvents'], ['request_body', 'requestBody'],
  ['response_body', 'responseBody'],
]
const at = (field: keyof LogRow) => COLUMNS.findIndex(([, f]) => f === field)
const TS = at('ts'), KEY = at('keyId'), MODEL = at('model'), UPSTREAM_MODEL = at('upstreamModel'), PROVIDER = at('provider'), STATUS = at('status'), LATENCY = at('latencyMs')
const PROMPT = at('promptTokens'), COMPLETION = at('completionTokens'), CACHED = at('cachedTokens'), REASONING = at('reasoningTokens'), COST = at('costUsd')

/** A row's values in column order (`stream` as 0/1, absent values as null). */
export function rowValues(r: LogRow): RowValues {
  const values: RowValues = new Array(COLUMNS.length)
  for (let c = 0; c < COLUMNS.length; c++) {
    const f = COLUMNS[c]![1]
    const v = r[f]
    values[c] = f === 'stream' ? (v ? 1 : 0) : v === undefined || v === null ? null : (v as string | number)
  }
  return values
}

/** `INSERT` of `n` rows with a placeholder per value. */
export const insertRows = (n: number) =>
  `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')}) VALUES ${Array.from({ length: n }, () => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ')}`

// A whole batch as one JSON parameter that SQLite unpacks: a short statement to prepare, for the
// libSQL server path, where a statement is sent and prepared for every batch.
export const INSERT_JSON_SQL = `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')})
  SELECT ${COLUMNS.map((_, i) => `value ->> ${i}`).join(', ')} FROM json_each(?)`

export const DAILY_SUMS = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'reasoning_tokens', 'cost_usd']
export const DAILY_UPSERT = `INSERT INTO usage_daily (day, key_id, model, provider, ${DAILY_SUMS.join(', ')}) VALUES (?, ?, ?, ?, ${DAILY_SUMS.map(() => '?').join(', ')})
  ON CONFLICT (day, key_id, model, provider) DO UPDATE SET ${DAILY_SUMS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`
export const HOURLY_SUMS = ['requests', 'errors', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'latency_sum_ms', ...Array.from({ length: LATENCY_BUCKETS_MS.length + 1 }, (_, i) => `l${i}`)]
export const HOURLY_UPSERT = `INSERT INTO usage_hourly (hour, ${HOURLY_SUMS.join(', ')}) VALUES (?, ${HOURLY_SUMS.map(() => '?').join(', ')})
  ON CONFLICT (hour) DO UPDATE SET ${HOURLY_SUMS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`

const HOUR = 3_600_000
const DAY = 86_400_000

function bucketOf(latencyMs: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => latencyMs <= b)
  return i < 0 ? LATENCY_BUCKETS_MS.length : i
}

/** The increments of the daily and hourly aggregates for a batch: the arguments of each upsert. */
export function aggregate(rows: readonly RowValues[]): { daily: RowValues[]; hourly: RowValues[] } {
  const daily = new Map<string, { day: string; keyId: string; model: string; provider: string; sums: number[] }>()
  const hourly = new Map<number, number[]>()
  let dayStart = -1
  let dayText = ''
  for (const r of rows) {
    const ts = r[TS] as number
    const status = r[STATUS] as number
    const error = status >= 400 ? 1 : 0
    const prompt = (r[PROMPT] as number | null) ?? 0
    const completion = (r[COMPLETION] as number | null) ?? 0
    const cost = (r[COST] as number | null) ?? 0
    // Rows of a batch mostly share one day: its text is made once.
    if (ts < dayStart || ts >= dayStart + DAY) {
      dayStart = ts - (ts % DAY)
      dayText = new Date(dayStart).toISOString().slice(0, 10)
    }
    const keyId = (r[KEY] as string | null) ?? ''
    // Usage is per model as it was served (an alias, a bare id and provider/id are one model).
    const model = (r[UPSTREAM_MODEL] as string | null) ?? (r[MODEL] as string | null) ?? ''
    const provider = (r[PROVIDER] as string | null) ?? ''
    const dk = `${dayText}\u0000${keyId}\u0000${model}\u0000${provider}`
    let d = daily.get(dk)
    if (!d) daily.set(dk, (d = { day: dayText, keyId, model, provider, sums: [0, 0, 0, 0, 0, 0, 0] }))
    const sums = d.sums
    sums[0]! += 1
    sums[1]! += error
    sums[2]! += prompt
    sums[3]! += completion
    sums[4]! += (r[CACHED] as number | null) ?? 0
    sums[5]! += (r[REASONING] as number | null) ?? 0
    sums[6]! += cost
    const hour = ts - (ts % HOUR)
    let h = hourly.get(hour)
    if (!h) hourly.set(hour, (h = new Array<number>(HOURLY_SUMS.length).fill(0)))
    const latency = r[LATENCY] as number
    h[0]! += 1
    h[1]! += error
    h[2]! += status === 429 ? 1 : 0
    h[3]! += prompt
    h[4]! += completion
    h[5]! += cost
    h[6]! += latency
    h[7 + bucketOf(latency)]! += 1
  }
  return {
    daily: [...daily.values()].map((d) => [d.day, d.keyId, d.model, d.provider, ...d.sums]),
    hourly: [...hourly].map(([hour, sums]) => [hour, ...sums]),
  }
}
