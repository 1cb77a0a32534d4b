/**
 * Quota periods that start at a local time of day in a time zone: a day from 00:00 to 00:00, or a
 * month from the 1st at that time. Daylight-saving changes move the UTC instant, as they should.
 */
export type Period = 'day' | 'month'

interface LocalTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    })
    formatters.set(timeZone, f)
  }
  return f
}

export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone)
    return true
  } catch {
    return false
  }
}

function local(ms: number, timeZone: string): LocalTime & { second: number } {
  const parts: Record<string, number> = {}
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! }
}

/** The UTC instant of a local wall-clock time in a zone. */
function instant(t: LocalTime, timeZone: string): number {
  const wall = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute)
  let guess = wall
  for (let i = 0; i < 3; i++) {
    const seen = local(guess, timeZone)
    const seenWall = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second)
    const next = guess + (wall - seenWall)
    if (next === guess) break
    guess = next
  }
  return guess
}

function parseResetTime(resetTime: string): { hour: number; minute: number } {
  const [h, m] = resetTime.split(':').map(Number)
  return { hour: h ?? 0, minute: m ?? 0 }
}

/** Start of the period that contains `now`. */
export function periodStart(now: number, period: Period, resetTime: string, timeZone: string): number {
  const { hour, minute } = parseResetTime(resetTime)
  const t = local(now, timeZone)
  let candidate = period === 'day'
    ? instant({ year: t.year, month: t.month, day: t.day, hour, minute }, timeZone)
    : instant({ year: t.year, month: t.month, day: 1, hour, minute }, timeZone)
  if (candidate > now) {
    candidate = period === 'day'
      ? instant(shiftDays({ year: t.year, month: t.month, day: t.day }, -1, hour, minute), timeZone)
      : instant({ ...shiftMonths(t.year, t.month, -1), day: 1, hour, minute }, timeZone)
  }
  return candidate
}

/** Start of the next period after the one that contains `now`. */
export function periodEnd(now: number, period: Period, resetTime: string, timeZone: string): number {
  const start = periodStart(now, period, resetTime, timeZone)
  const { hour, minute } = parseResetTime(resetTime)
  const s = local(start, timeZone)
  return period === 'day'
    ? instant(shiftDays({ year: s.year, month: s.month, day: s.day }, 1, hour, minute), timeZone)
    : instant({ ...shiftMonths(s.year, s.month, 1), day: 1, hour, minute }, timeZone)
}

function shiftDays(d: { year: number; month: number; day: number }, by: number, hour: number, minute: number): LocalTime {
  const date = new Date(Date.UTC(d.year, d.month - 1, d.day + by))
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour, minute }
}

function shiftMonths(year: number, month: number, by: number): { year: number; month: number } {
  const index = year * 12 + (month - 1) + by
  return { year: Math.floor(index / 12), month: (index % 12) + 1 }
}
