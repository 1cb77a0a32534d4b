// The scale-out targets of `bench/run.ts --scale`: the same binary with its limits shared through a
// Redis on 127.0.0.1 (the client key with rpm, tpm, concurrency and a quota), and with a PostgreSQL
// cluster as the request-log store, both started here on free ports and stopped when the bench ends.
// Either is skipped with a note when redis-server or PostgreSQL is not installed.
import { join } from 'node:path'
import { RedisClient } from 'bun'
import { postgresUnavailable, startPostgres, type PgServer } from '../test/helpers/postgres.ts'
import { children, ROOT, SLUICE_READY, start, writeBenchConfig } from './harness.ts'

export interface ScaleTargets {
  targets: Record<string, { url: string; pid: number }>
  /** Why a target is missing, one line each. */
  notes: string[]
  stop(): Promise<void>
}

const QUOTA = 'quota: { period: day, requests: 1000000000000, tokens: 1000000000000000 }'

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = listener.port
  listener.stop(true)
  return p
}

async function startRedis(): Promise<string> {
  const port = await freePort()
  children.push(Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdout: 'ignore', stderr: 'ignore' }))
  const url = `redis://127.0.0.1:${port}`
  const until = Date.now() + 10_000
  for (;;) {
    const probe = new RedisClient(url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 })
    const up = await probe.connect().then(() => true, () => false)
    probe.close()
    if (up) return url
    if (Date.now() > until) throw new Error('redis-server did not answer')
    await Bun.sleep(50)
  }
}

/** Starts `sluice_redis` and `sluice_pg` next to the embedded default, each from the built binary. */
export async function startScaleTargets(work: string, upstream: string): Promise<ScaleTargets> {
  const targets: ScaleTargets['targets'] = {}
  const notes: string[] = []
  const binary = join(ROOT, 'dist/sluice')
  let pg: PgServer | null = null
  if (Bun.which('redis-server')) {
    const redis = await startRedis()
    const config = writeBenchConfig(work, upstream, { file: 'redis.yaml', key: QUOTA, extra: `redis: { url: "${redis}" }\n` })
    const s = await start([binary, '--config', config, '--port', '0', '--db', `file:${join(work, 'redis.db')}`], {}, SLUICE_READY, 'stderr')
    targets.sluice_redis = { url: s.match[1]!, pid: s.proc.pid }
  } else {
    notes.push('sluice_redis skipped: redis-server is not on PATH (Debian: apt-get install redis-server)')
  }
  const pgMissing = postgresUnavailable()
  if (pgMissing === null) {
    // Durable, as a server ships (the test helper turns fsync off).
    pg = await startPostgres({ settings: { fsync: 'on' } })
    const url = await pg.createDatabase('bench')
    // Limits stay per instance here, as the embedded default's are: this measures the log store alone.
    const config = writeBenchConfig(work, upstream, { file: 'pg.yaml', extra: 'database: { allow_unshared_limits: true }\n' })
    const s = await start([binary, '--config', config, '--port', '0', '--db', url], {}, SLUICE_READY, 'stderr')
    targets.sluice_pg = { url: s.match[1]!, pid: s.proc.pid }
  } else {
    notes.push(`sluice_pg skipped: ${pgMissing}`)
  }
  return {
    targets,
    notes,
    async stop() {
      // The gateway first, so its pool is closed before the server goes.
      if (targets.sluice_pg) process.kill(targets.sluice_pg.pid)
      await Bun.sleep(100)
      await pg?.stop()
    },
  }
}
