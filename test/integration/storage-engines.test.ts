import { beforeAll, describe, expect, test } from 'bun:test'
import type { KeyPolicy } from '../../src/config/schema.ts'
import { createAccountStore } from '../../src/storage/account-store.ts'
import { createAdapterKvStore } from '../../src/storage/adapter-kv-store.ts'
import { createClientKeyStore } from '../../src/storage/client-key-store.ts'
import type { Database } from '../../src/storage/database.ts'
import { rawQuery } from '../../src/storage/engine.ts'
import { createManagedStore } from '../../src/storage/managed-store.ts'
import { createRequestWriter, type LogRow } from '../../src/storage/request-writer.ts'
import { createResponseStore } from '../../src/storage/response-store.ts'
import { createSettingsStore } from '../../src/storage/settings-store.ts'
import { createUpstreamKeyStore } from '../../src/storage/upstream-key-store.ts'
import { createUsageQueries } from '../../src/storage/usage-queries.ts'
import { createUsageStore } from '../../src/storage/usage-store.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { storageEngines } from '../helpers/engines.ts'

// Every store, on each engine, through the same interface: what one engine stores, the other
// stores and reads back the same way.

const NO_LIMITS: KeyPolicy = { models: null, ips: null, rpm: null, tpm: null, maxConcurrent: null, quota: null }
const POLICY: KeyPolicy = {
  models: ['openai/*', 'm'], ips: ['10.0.0.0/8'], rpm: 60, tpm: 5_000_000_000, maxConcurrent: 4,
  quota: { period: 'month', tokens: 3_000_000_000, requests: 1000, budgetUsd: 12.5, resetTime: '08:00', timezone: 'Asia/Shanghai' },
}
const logger = createLogger({ level: 'error', destination: { write: () => {} } })
const row = (over: Partial<LogRow> = {}): LogRow => ({
  ts: Date.now(), requestId: 'r', method: 'POST', endpoint: '/v1/chat/completions', status: 200, latencyMs: 120,
  usageSource: 'reported', model: 'm', provider: 'p', keyId: 'k1', promptTokens: 10, completionTokens: 5, costUsd: 0.01, ...over,
})
const sealing = { seal: (s: string) => `sealed:${s}`, open: (s: string) => s.replace(/^sealed:/, '') }

for (const engine of storageEngines('storage-engines')) {
  describe.skipIf(engine.skip !== null)(`stores on ${engine.name}`, () => {
    let database: Database
    beforeAll(async () => {
      database = await engine.open()
    })

    test('settings: a value is stored, replaced and read back; an absent one is null; a claim keeps the first value', async () => {
      const s = createSettingsStore(database.db)
      expect(await s.get('nothing')).toBeNull()
      await s.set('a', 'one')
      await s.set('a', 'two')
      expect(await s.get('a')).toBe('two')
      // Two instances claiming at once (the generated admin token of a first start) agree on one.
      const claims = await Promise.all([createSettingsStore(database.db).claim('first', 'x'), createSettingsStore(database.db).claim('first', 'y')])
      expect(claims[0]).toBe(claims[1])
      expect(await s.claim('first', 'z')).toBe(claims[0]!)
    })

    test('client keys: created, found by hash, id and name, updated, revoked, synced from the config; every change bumps the version', async () => {
      const keys = createClientKeyStore(database.db, database.client, database.background)
      const v0 = await keys.version()
      const { record, secret } = await keys.create({ name: 'alice', policy: POLICY, metadata: { team: 'a', n: 1 }, expiresAt: Date.UTC(2030, 0, 1) }, 1_700_000_000_123)
      expect(secret.startsWith('sk-sluice-')).toBe(true)
      expect(record).toMatchObject({ name: 'alice', source: 'api', enabled: true, createdAt: 1_700_000_000_123, expiresAt: Date.UTC(2030, 0, 1), revokedAt: null, lastUsedAt: null, metadata: { team: 'a', n: 1 } })
      // Limits past 2^31 and a fractional budget come back as given.
      expect(record.policy).toEqual(POLICY)
      expect(await keys.version()).toBe(v0 + 1)
      const hash = record.keyHash
      expect((await keys.findByHash(hash))?.id).toBe(record.id)
      expect(await keys.findByHash('nope')).toBeNull()
      expect((await keys.resolve('alice')) as { id: string }).toMatchObject({ id: record.id })
      await expect(keys.create({ name: 'dup', policy: NO_LIMITS, secret })).rejects.toThrow(/already exists/)
      const updated = await keys.update(record.id, { name: 'alice2', enabled: false, policy: NO_LIMITS, metadata: null }, 1_700_000_001_000)
      expect(updated).toMatchObject({ name: 'alice2', enabled: false, updatedAt: 1_700_000_001_000, metadata: null, policy: NO_LIMITS })
      expect(await keys.revoke(record.id, 1_700_000_002_000)).toBe(true)
      expect((await keys.get(record.id))?.revokedAt).toBe(1_700_000_002_000)
      expect(await keys.revoke('key_missing')).toBe(false)
      expect(await keys.version()).toBe(v0 + 3)

      const config = [{ name: 'cfg-a', key: 'sk-config-key-a-0123456789', expiresAt: null, policy: POLICY, metadata: null }]
      await keys.syncConfigKeys(config, 1_700_000_003_000)
      const before = await keys.version()
      await keys.syncConfigKeys(config, 1_700_000_004_000)
      // Nothing changed: nothing written.
      expect(await keys.version()).toBe(before)
      expect((await keys.get('cfg_cfg-a'))?.policy).toEqual(POLICY)
      await keys.syncConfigKeys([], 1_700_000_005_000)
      expect((await keys.get('cfg_cfg-a'))?.revokedAt).toBe(1_700_000_005_000)
      expect(await keys.count()).toBe(2)

      await keys.touch(new Map([[record.id, 1_700_000_006_000], ['cfg_cfg-a', 1_700_000_007_000]]))
      expect((await keys.get(record.id))?.lastUsedAt).toBe(1_700_000_006_000)
      expect((await keys.list()).map((k) => k.id).sort()).toEqual(['cfg_cfg-a', record.id].sort())
    })

    test('quota usage: saved as increments (two savers add up), never below zero, read back by period', async () => {
      const a = createUsageStore(database.background)
      const b = createUsageStore(database.background)
      const period = Date.UTC(2026, 0, 1)
      await Promise.all([
        a.save([{ keyId: 'k', periodStart: period, usage: { requests: 2, tokens: 30, costUsd: 0.5 } }]),
        b.save([{ keyId: 'k', periodStart: period, usage: { requests: 3, tokens: 4_000_000_000, costUsd: 0.25 } }, { keyId: 'j', periodStart: period, usage: { requests: 1, tokens: 1, costUsd: 0 } }]),
      ])
      await a.save([{ keyId: 'j', periodStart: period, usage: { requests: -5, tokens: -5, costUsd: -1 } }])
      const rows = (await a.since(period)).sort((x, y) => x.keyId.localeCompare(y.keyId))
      expect(rows).toEqual([
        { keyId: 'j', periodStart: period, usage: { requests: 0, tokens: 0, costUsd: 0 } },
        { keyId: 'k', periodStart: period, usage: { requests: 5, tokens: 4_000_000_030, costUsd: 0.75 } },
      ])
      expect(await a.since(period + 1)).toEqual([])
    })

    test('disabled upstream keys: stored, replaced, listed and cleared', async () => {
      const store = createUpstreamKeyStore(database.db, database.background)
      await store.setDisabled({ provider: 'p', fingerprint: 'f1', reason: 'revoked', disabledAt: 1_700_000_000_000 })
      await store.setDisabled({ provider: 'p', fingerprint: 'f1', reason: 'revoked again', disabledAt: 1_700_000_000_001 })
      expect(await store.listDisabled()).toEqual([{ provider: 'p', fingerprint: 'f1', reason: 'revoked again', disabledAt: 1_700_000_000_001 }])
      expect(store.pending).toBe(0)
      await store.clearDisabled('p', 'f1')
      expect(await store.listDisabled()).toEqual([])
    })

    test('stored responses: written in batches, readable with their key only until they expire, deleted and pruned', async () => {
      let now = 1_700_000_000_000
      const store = createResponseStore(database.background, logger, () => now)
      const saved = (id: string, key: string, ttl: number) => ({ id, clientKeyId: key, createdAt: now, expiresAt: now + ttl, input: [{ role: 'user', content: id }], response: { id, output: [] } })
      for (let i = 0; i < 250; i++) store.save(saved(`resp_${i}`, 'k1', 1000))
      store.save(saved('resp_other', 'k2', 60_000))
      await store.flush()
      expect(store.pending).toBe(0)
      expect(await store.get('resp_7', 'k1')).toMatchObject({ id: 'resp_7', clientKeyId: 'k1', input: [{ role: 'user', content: 'resp_7' }], response: { id: 'resp_7', output: [] } })
      expect(await store.get('resp_7', 'k2')).toBeNull()
      expect(await store.delete('resp_8', 'k1')).toBe(true)
      expect(await store.delete('resp_8', 'k1')).toBe(false)
      now += 5000
      expect(await store.get('resp_9', 'k1')).toBeNull()
      expect(await store.prune()).toBe(249)
      expect(await store.get('resp_other', 'k2')).not.toBeNull()
    })

    test('managed entries: put, renamed, listed in order, removed; every change bumps the version', async () => {
      const store = createManagedStore(database.db, database.client)
      const v0 = await store.version()
      await store.put({ kind: 'provider', name: 'one', enabled: true, spec: { type: 'openai', keys: ['sealed:x'], nested: { a: [1, 2] } } }, 1000)
      await store.put({ kind: 'alias', name: 'fast', enabled: false, spec: { targets: ['one/m'] } }, 2000)
      await store.put({ kind: 'provider', name: 'two', enabled: true, spec: { type: 'openai' } }, 3000, 'one')
      expect((await store.list()).map((e) => [e.kind, e.name, e.createdAt])).toEqual([['provider', 'two', 1000], ['alias', 'fast', 2000]])
      expect((await store.get('provider', 'two'))?.spec).toEqual({ type: 'openai' })
      expect(await store.get('provider', 'one')).toBeNull()
      expect(await store.remove('alias', 'fast')).toBe(true)
      expect(await store.remove('alias', 'fast')).toBe(false)
      expect(await store.version()).toBe(v0 + 4)
      // JSON is stored as JSON, not as a string of it: the database can query into it.
      const [found] = await rawQuery(database.client, engine.name === 'postgres' ? "SELECT spec ->> 'type' AS t FROM managed_entries" : "SELECT json_extract(spec, '$.type') AS t FROM managed_entries")
      expect(found?.t).toBe('openai')
    })

    test('accounts: created, credentials saved, disabled, removed; every change bumps the version', async () => {
      const store = createAccountStore(database.db, database.client)
      const v0 = await store.version()
      const a = await store.create({ provider: 'flow', label: 'me', sealedCredentials: 'sealed:{}', expiresAt: null }, 1000)
      await store.saveCredentials(a.id, 'sealed:{"t":1}', 5000, 2000)
      expect(await store.setEnabled(a.id, false, 'refused', 3000)).toBe(true)
      expect(await store.get(a.id)).toEqual({ id: a.id, provider: 'flow', label: 'me', sealedCredentials: 'sealed:{"t":1}', expiresAt: 5000, enabled: false, disabledReason: 'refused', createdAt: 1000, updatedAt: 3000 })
      expect((await store.list()).map((x) => x.id)).toEqual([a.id])
      expect(await store.remove(a.id)).toBe(true)
      expect(await store.remove(a.id)).toBe(false)
      expect(await store.version()).toBe(v0 + 4)
    })

    test('adapter values: sealed, read back after a restart, expired ones gone and pruned', async () => {
      let now = 1_700_000_000_000
      const errors: Error[] = []
      const open = () => createAdapterKvStore(database.db, database.background, () => sealing, () => now, (e) => errors.push(e))
      const kv = open().forAccount('flow', 'acct_1')
      await kv.set('conversation', { id: 'c1', turns: [1, 2] }, 60_000)
      await kv.set('short', 'x', 10)
      await kv.delete('short')
      await kv.set('token', 't', 1000)
      const [stored] = await rawQuery(database.client, "SELECT value FROM adapter_kv WHERE key = 'conversation'")
      expect(String(stored?.value)).toStartWith('sealed:')
      const again = open()
      expect(await again.forAccount('flow', 'acct_1').get('conversation')).toEqual({ id: 'c1', turns: [1, 2] })
      expect(await again.forAccount('flow', 'acct_1').get('short')).toBeUndefined()
      now += 5000
      expect(await open().prune()).toBe(1)
      expect(errors).toEqual([])
    })

    test('the request log: batches with their rollups, filtered lists, one row, overview, usage and pruning', async () => {
      const writer = createRequestWriter(database, { filePath: database.filePath ?? undefined, maxQueue: 10_000, batchSize: 500, flushMs: 60_000, onError: (e) => { throw e }, onDropped: () => {} })
      const old = Date.now() - 40 * 86_400_000
      for (let i = 0; i < 1234; i++) writer.enqueue(row({ requestId: `r${i}`, ttftMs: i, keyId: i % 2 ? 'k1' : 'k2', status: i % 10 === 0 ? 500 : 200, stream: i % 3 === 0 }))
      for (let i = 0; i < 30; i++) writer.enqueue(row({ requestId: `old${i}`, ts: old, keyId: 'k3', requestBody: 'x'.repeat(100) }))
      await writer.stop()
      const q = createUsageQueries(database)
      const byKey = await q.usage({ groupBy: ['key'] })
      expect(byKey.map((u) => [u.key, u.requests, u.errors, u.prompt_tokens])).toEqual([['k1', 617, 0, 6170], ['k2', 617, 124, 6170], ['k3', 30, 0, 300]])
      expect(typeof byKey[0]!.cost_usd).toBe('number')
      const errors = await q.requests({ status: 'error', limit: 50 })
      expect(errors).toHaveLength(50)
      expect(errors.every((r) => r.status === 500 && r.keyId === 'k2')).toBe(true)
      // Newest first, and pages of older rows by id.
      expect(errors[0]!.id).toBeGreaterThan(errors[1]!.id)
      const older = await q.requests({ status: 'error', limit: 50, before: errors.at(-1)!.id })
      expect(older[0]!.id).toBeLessThan(errors.at(-1)!.id)
      const first = (await q.requests({ keyId: 'k3', limit: 1, toTs: old }))[0]!
      expect(first).toMatchObject({ keyId: 'k3', requestBody: 'x'.repeat(100), stream: false })
      const one = await q.request(errors[0]!.id)
      expect(one).toEqual(errors[0])
      expect(typeof one!.ts).toBe('number')
      expect(await q.request(999_999_999)).toBeUndefined()
      expect((await q.requests({ limit: 2000 })).filter((r) => r.stream).length).toBe(412)
      const hour = await q.overview('1h', Date.now())
      expect([hour.requests, hour.errors, hour.prompt_tokens, hour.series.length]).toEqual([1234, 124, 12340, 60])
      expect(hour.latency_p50_ms).toBe(250)
      const month = await q.overview('30d', Date.now())
      expect(month.requests).toBe(1234)
      const trend = await q.trends({ window: '24h', metric: 'errors', by: 'key', top: 5, now: Date.now() })
      expect(trend.series.map((s) => [s.name, s.values.reduce<number>((a, b) => a + (b ?? 0), 0)])).toEqual([['k2', 124], ['k1', 0]])
      const latency = await q.latencyTrend({ window: '1h', by: 'key', quantile: 'p95', top: 1, now: Date.now() })
      expect(latency.series.map((s) => s.name)).toEqual(['k1', 'other'])
      expect(latency.series[0]!.values.some((v) => v === 120)).toBe(true)
      // Rows older than the retention go; the aggregates stay.
      expect(await q.prune(Date.now() - 30 * 86_400_000, 7)).toBe(30)
      expect((await q.requests({ keyId: 'k3', limit: 10 })).length).toBe(0)
      expect((await q.usage({ groupBy: [] }))[0]!.requests).toBe(1264)
    })
  })
}
