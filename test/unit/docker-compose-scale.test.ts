// docker-compose.scale.yml (two instances, PostgreSQL, Redis) works as the README says: checked
// against the Dockerfile, the README's config for it, and `docker compose config` where installed.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { composeConfig } from '../helpers/compose.ts'
import { parseConfigText } from '../../src/config/load.ts'

const root = join(import.meta.dir, '../..')
const read = (name: string) => readFileSync(join(root, name), 'utf8')
const compose = YAML.parse(read('docker-compose.scale.yml'), { merge: true })
const readme = read('README.md')
const single = YAML.parse(read('docker-compose.yml')).services.sluice

describe('docker-compose.scale.yml', () => {
  test('two sluice instances of the same image, command, config and secrets, on two host ports', () => {
    const [a, b] = [compose.services['sluice-a'], compose.services['sluice-b']]
    for (const s of [a, b]) {
      expect(s.build).toBe('.')
      expect(s.command).toEqual(single.command)
      expect(s.volumes).toEqual(['./config:/etc/sluice:ro'])
      expect(Object.keys(s.environment).sort()).toEqual(['OPENAI_API_KEY', 'SLUICE_ADMIN_TOKEN', 'SLUICE_DB_PASSWORD', 'SLUICE_REDIS_PASSWORD'])
      expect(s.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_started' } })
      expect(s.stop_grace_period).toBe(single.stop_grace_period)
    }
    expect([a.ports[0], b.ports[0]]).toEqual(['127.0.0.1:8001:8000', '127.0.0.1:8002:8000'])
    expect(compose.services.postgres.environment).toMatchObject({ POSTGRES_USER: 'sluice', POSTGRES_DB: 'sluice' })
    expect(compose.services.redis.command).toContain('noeviction')
  })

  test("the README's config for it is valid and points at these services", () => {
    const block = /```yaml\n# config\/sluice\.yaml for docker-compose\.scale\.yml\n([\s\S]*?)```/.exec(readme)![1]!
    const env = { SLUICE_DB_PASSWORD: 'pw-example-0001', SLUICE_REDIS_PASSWORD: 'redis-example-01', OPENAI_API_KEY: 'sk-example-value' }
    const config = parseConfigText(block, 'README scale example.yaml', env)
    expect(config.database?.url).toBe('postgres://sluice@postgres:5432/sluice')
    expect(config.redis?.url).toStartWith('redis://:redis-example-01@redis:6379')
    // Each instance reads the same key file from the same mount.
    expect(config.secrets?.key_file).toBe('/etc/sluice/sluice.key')
    expect(readme).toContain('```yaml docker-compose.scale.yml\n' + read('docker-compose.scale.yml') + '```\n')
  })

  test('docker compose accepts it, where Compose is installed', () => {
    const r = composeConfig('docker-compose.scale.yml', root, { POSTGRES_PASSWORD: 'x', REDIS_PASSWORD: 'y', SLUICE_ADMIN_TOKEN: 'z'.repeat(24) })
    if (!r) {
      console.warn('Docker Compose is not installed: docker-compose.scale.yml checked by its structure only')
      return
    }
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
  })
})
