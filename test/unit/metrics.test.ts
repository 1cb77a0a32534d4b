import { describe, expect, test } from 'bun:test'
import { createGatewayMetrics } from '../../src/gateway-metrics.ts'
import { Counter, Histogram, Registry, SeriesLookup } from '../../src/observability/metrics.ts'

describe('metrics', () => {
  test('a series lookup by label values: one series per combination, made once', () => {
    const counter = new Counter('c_total', 'help')
    let made = 0
    const lookup = new SeriesLookup(([a, b]) => {
      made++
      return counter.series({ a: String(a), b: String(b) })
    })
    lookup.get('x', 200).value++
    lookup.get('x', 200).value++
    lookup.get('x', 404).value++
    lookup.get('y', 200).value++
    expect(made).toBe(3)
    // Numbers and their text are different values to the lookup, but the same labels to the counter.
    lookup.get('x', '200').value++
    expect(counter.get({ a: 'x', b: '200' })).toBe(3)
    expect(counter.get({ a: 'x', b: '404' })).toBe(1)
  })

  test('a histogram series kept and observed into renders like one observed by labels', () => {
    const kept = new Histogram('h', 'help', [0.1, 1])
    const plain = new Histogram('h', 'help', [0.1, 1])
    const s = kept.seriesOf({ route: '/v1/x' })
    for (const v of [0.05, 0.5, 2]) {
      kept.observeIn(s, v)
      plain.observe({ route: '/v1/x' }, v)
    }
    expect(kept.render()).toBe(plain.render())
    expect(kept.render()).toContain('h_bucket{route="/v1/x",le="0.1"} 1')
    expect(kept.render()).toContain('h_count{route="/v1/x"} 3')
  })

  test('the gateway metrics count requests by route, model, provider and status', () => {
    const metrics = createGatewayMetrics({ keyStates: () => [], inflight: () => ({ requests: 0, streams: 0 }), queue: () => ({ depth: 0, dropped: 0 }) })
    const record = { requestId: 'r', startedAt: 0, method: 'POST', path: '/v1/chat/completions', model: 'm', provider: 'p', status: 200, ttfbMs: 5 }
    metrics.request(record, 12)
    metrics.request(record, 30)
    metrics.request({ ...record, status: 429 }, 1)
    metrics.request({ requestId: 'r', startedAt: 0, method: 'GET', path: '/v1/models/abc', status: 200 }, 1)
    metrics.request({ ...record, path: '/v1/responses' }, 5)
    metrics.request({ ...record, path: '/v1/nope' }, 5)
    metrics.attempt('p', 'ok')
    metrics.attempt('p', 'ok')
    const text = metrics.render()
    expect(text).toContain('sluice_requests_total{route="/v1/chat/completions",model="m",provider="p",status="200"} 2')
    expect(text).toContain('sluice_requests_total{route="/v1/chat/completions",model="m",provider="p",status="429"} 1')
    expect(text).toContain('sluice_requests_total{route="/v1/models/{id}",model="none",provider="none",status="200"} 1')
    expect(text).toContain('sluice_requests_total{route="/v1/responses",model="m",provider="p",status="200"} 1')
    expect(text).toContain('sluice_requests_total{route="other",model="m",provider="p",status="200"} 1')
    expect(text).toContain('sluice_request_duration_seconds_count{route="/v1/chat/completions"} 3')
    expect(text).toContain('sluice_time_to_first_token_seconds_count{route="/v1/chat/completions"} 3')
    expect(text).toContain('sluice_upstream_attempts_total{provider="p",outcome="ok"} 2')
    expect(new Registry().render()).toBe('\n')
  })
})
