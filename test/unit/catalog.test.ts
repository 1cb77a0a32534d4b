import { describe, expect, test } from 'bun:test'
import pino from 'pino'
import { ModelCatalog } from '../../src/gateway/routing/catalog.ts'
import { provider } from '../helpers/provider-config.ts'

const silent = pino({ level: 'silent' })
const breaker = { failure_threshold: 5, open_ms: 30_000 }
const where = (targets: { provider: { name: string }; upstreamModel: string }[]) =>
  targets.map((t) => `${t.provider.name}:${t.upstreamModel}`)

describe('model routing', () => {
  const catalog = new ModelCatalog([provider('a', ['m1', 'shared']), provider('b', ['m2', 'shared', 'org/model'])], silent, { breaker })

  test('provider/model goes to that provider with the bare name', async () => {
    expect(where(await catalog.resolve('b/shared'))).toEqual(['b:shared'])
  })

  test('a bare model goes to the provider that serves it; a shared one to all of them, in config order', async () => {
    expect(where(await catalog.resolve('m2'))).toEqual(['b:m2'])
    expect(where(await catalog.resolve('shared'))).toEqual(['a:shared', 'b:shared'])
  })

  test('a bare id may itself contain a slash', async () => {
    expect(where(await catalog.resolve('org/model'))).toEqual(['b:org/model'])
  })

  test('an explicit list is enforced; unknown models resolve to nothing', async () => {
    expect(await catalog.resolve('a/m2')).toEqual([])
    expect(await catalog.resolve('nope')).toEqual([])
  })

  test('the list shows each model once: its bare id where unambiguous, provider/model where not', () => {
    const ids = catalog.list().map((m) => m.id)
    expect(ids).toEqual(expect.arrayContaining(['m1', 'a/shared', 'b/shared', 'm2', 'org/model']))
    expect(ids).not.toContain('shared')
    expect(ids).not.toContain('a/m1')
    expect(new Set(ids).size).toBe(ids.length)
  })

  test('a provider whose list is unknown (discovery failed) receives unknown models', async () => {
    const offline = (async () => {
      throw new Error('offline')
    }) as unknown as typeof fetch
    const c = new ModelCatalog([provider('known', ['x']), provider('dark')], silent, { breaker, fetchFn: offline })
    c.start()
    const r = await c.resolve('anything')
    c.stop()
    expect(where(r)).toEqual(['dark:anything'])
  })

  test('regular expressions filter the discovered list', async () => {
    const listing = (async () =>
      Response.json({ data: [{ id: 'gpt-4o' }, { id: 'gpt-4o-mini' }, { id: 'dall-e-3' }, { id: 'whisper-1' }] })) as unknown as typeof fetch
    const c = new ModelCatalog([provider('o', undefined, ['^gpt-4o', '^whisper-1$'])], silent, { breaker, fetchFn: listing })
    c.start()
    await c.resolve('warm-up')
    c.stop()
    expect(c.providers[0]!.models).toEqual(['gpt-4o', 'gpt-4o-mini', 'whisper-1'])
    expect(await c.resolve('o/dall-e-3')).toEqual([])
  })
})
