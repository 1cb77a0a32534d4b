import { beforeAll, describe, expect, test } from 'bun:test'
import type { Database } from '../../src/storage/database.ts'
import { createInstanceStore, GONE_LISTED_MS, PRUNE_AFTER_MS, type Heartbeat } from '../../src/storage/instance-store.ts'
import { storageEngines } from '../helpers/engines.ts'

// The instances' heartbeats, on each engine: written, listed with their status, stopped, pruned.

const beat = (id: string, over: Partial<Heartbeat> = {}): Heartbeat => ({
  id, host: id.split(':')[0]!, version: '1.2.3', worker: null, startedAt: 1_000_000, inflightRequests: 2, inflightStreams: 1, requestsPerMinute: 30, ...over,
})

for (const engine of storageEngines('instance-store')) {
  describe.skipIf(engine.skip !== null)(`instances on ${engine.name}`, () => {
    let database: Database
    beforeAll(async () => {
      database = await engine.open()
    })

    test('heartbeats are listed as up, stale or gone; a stopped one is gone at once; old ones are pruned', async () => {
      const store = createInstanceStore(database.db, database.background)
      const now = 10_000_000
      await store.beat(beat('a:1'), now - 2_000)
      await store.beat(beat('a:1', { inflightRequests: 5 }), now - 1_000)
      await store.beat(beat('b:2', { worker: 1 }), now - 30_000)
      await store.beat(beat('c:3'), now - 120_000)
      await store.beat(beat('d:4'), now - 1_000)
      await store.stopped('d:4', now - 500)
      await store.beat(beat('e:5'), now - GONE_LISTED_MS - 1_000)
      await store.beat(beat('f:6'), now - PRUNE_AFTER_MS - 1_000)
      const listed = await store.list(now)
      const by = new Map(listed.map((i) => [i.id, i]))
      expect([...by.keys()].sort()).toEqual(['a:1', 'b:2', 'c:3', 'd:4'])
      expect(by.get('a:1')).toMatchObject({ status: 'up', host: 'a', version: '1.2.3', worker: null, stopped_at: null, load: { inflight_requests: 5, inflight_streams: 1, requests_per_minute: 30 } })
      expect(by.get('a:1')!.uptime_s).toBe(Math.round((now - 1_000_000) / 1000))
      expect(by.get('b:2')).toMatchObject({ status: 'stale', worker: 1 })
      expect(by.get('c:3')!.status).toBe('gone')
      expect(by.get('d:4')).toMatchObject({ status: 'gone', stopped_at: new Date(now - 500).toISOString(), load: { inflight_requests: 0 } })
      expect(await store.prune(now)).toBe(1)
      expect(await store.prune(now)).toBe(0)
    })
  })
}
