import { describe, expect, test } from 'bun:test'
import { cidrContains, ipMatcher, parseCidr } from '../../src/lib/cidr.ts'
import { isTimeZone, periodEnd, periodStart } from '../../src/lib/periods.ts'

const at = (iso: string) => Date.parse(iso)
const iso = (ms: number) => new Date(ms).toISOString()

describe('quota periods', () => {
  test('a UTC day from midnight', () => {
    expect(iso(periodStart(at('2026-03-10T15:00:00Z'), 'day', '00:00', 'UTC'))).toBe('2026-03-10T00:00:00.000Z')
    expect(iso(periodEnd(at('2026-03-10T15:00:00Z'), 'day', '00:00', 'UTC'))).toBe('2026-03-11T00:00:00.000Z')
  })

  test('a day that resets at 06:30 in Shanghai (UTC+8)', () => {
    // 2026-03-10 05:00 local is before the reset: the period began the day before at 06:30 local.
    expect(iso(periodStart(at('2026-03-09T21:00:00Z'), 'day', '06:30', 'Asia/Shanghai'))).toBe('2026-03-08T22:30:00.000Z')
    expect(iso(periodStart(at('2026-03-09T23:00:00Z'), 'day', '06:30', 'Asia/Shanghai'))).toBe('2026-03-09T22:30:00.000Z')
  })

  test('months, including across a year and a daylight-saving change', () => {
    expect(iso(periodStart(at('2026-01-15T00:00:00Z'), 'month', '00:00', 'UTC'))).toBe('2026-01-01T00:00:00.000Z')
    expect(iso(periodStart(at('2026-01-01T00:00:00Z'), 'month', '00:01', 'UTC'))).toBe('2025-12-01T00:01:00.000Z')
    // New York: EST (UTC-5) in March 1st, EDT (UTC-4) on April 1st.
    expect(iso(periodStart(at('2026-03-20T12:00:00Z'), 'month', '00:00', 'America/New_York'))).toBe('2026-03-01T05:00:00.000Z')
    expect(iso(periodEnd(at('2026-03-20T12:00:00Z'), 'month', '00:00', 'America/New_York'))).toBe('2026-04-01T04:00:00.000Z')
  })

  test('time zone names are checked', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true)
    expect(isTimeZone('Mars/Olympus')).toBe(false)
  })
})

describe('CIDR matching', () => {
  test('IPv4 and IPv6 ranges; IPv4-mapped addresses match IPv4 ranges', () => {
    const allowed = ipMatcher(['10.1.0.0/16', '127.0.0.1', '2001:db8::/32'])
    expect(allowed('10.1.200.3')).toBe(true)
    expect(allowed('10.2.0.1')).toBe(false)
    expect(allowed('127.0.0.1')).toBe(true)
    expect(allowed('::ffff:127.0.0.1')).toBe(true)
    expect(allowed('2001:db8:1::5')).toBe(true)
    expect(allowed('2001:db9::1')).toBe(false)
    expect(allowed('not an ip')).toBe(false)
  })

  test('invalid ranges are rejected', () => {
    expect(parseCidr('10.0.0.0/33')).toBeNull()
    expect(parseCidr('300.0.0.1')).toBeNull()
    expect(cidrContains(parseCidr('::/0')!, '::1')).toBe(true)
  })
})
