import { describe, expect, test } from 'bun:test'
import pino from 'pino'
import { DEFAULT_TIMEOUTS, type ProviderConfig } from '../../src/config/schema.ts'
import { ModelCatalog } from '../../src/gateway/catalog.ts'

const silent = pino({ level: 'silent' })
const provider = (name: string, models?: string[]): ProviderConfig => ({
  name,
  type: 'openai',
  base_url: 'http://127.0.0.1:9/v1',
  keys: ['k'],
  models,
  headers: {},
  timeouts: DEFAULT_TIMEOUTS,
})

describe('model routing', () => {
  const catalog = new ModelCatalog([provider('a', ['m1', 'shared']), provider('b', ['m2', 'shared', 'org/model'])], silent)

  test('provider/model goes to that provider with the bare name', async () => {
    const r = await catalog.resolve('b/shared')
    expect([r?.provider.name, r?.upstreamModel]).toEqual(['b', 'shared'])
  })

  test('a bare model goes to the provider that serves it; a shared one to the first configured', async () => {
    expect((await catalog.resolve('m2'))?.provider.name).toBe('b')
    expect((await catalog.resolve('shared'))?.provider.name).toBe('a')
  })

  test('a bare id may itself contain a slash', async () => {
    const r = await catalog.resolve('org/model')
    expect([r?.provider.name, r?.upstreamModel]).toEqual(['b', 'org/model'])
  })

  test('an explicit list is enforced; unknown models resolve to nothing', async () => {
    expect(await catalog.resolve('a/m2')).toBeNull()
    expect(await catalog.resolve('nope')).toBeNull()
  })

  test('the list shows bare ids only where unambiguous', () => {
    const ids = catalog.list().map((m) => m.id)
    expect(ids).toEqual(expect.arrayContaining(['a/m1', 'a/shared', 'b/shared', 'm1', 'm2', 'org/model']))
    expect(ids).not.toContain('shared')
  })

  test('a provider whose list is unknown (discovery failed) receives unknown models', async () => {
    const c = new ModelCatalog([provider('known', ['x']), provider('dark')], silent, (async () => {
      throw new Error('offline')
    }) as unknown as typeof fetch)
    c.start()
    const r = await c.resolve('anything')
    c.stop()
    expect([r?.provider.name, r?.upstreamModel]).toEqual(['dark', 'anything'])
  })
})
