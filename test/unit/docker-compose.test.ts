// docker-compose.yml and the README's Docker section work as written with the image the Dockerfile
// builds: checked against the Dockerfile's instructions (no Docker daemon needed), and with
// `docker compose config` too where the compose plugin is installed.
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import YAML from 'yaml'
import { composeConfig } from '../helpers/compose.ts'
import { loadConfig } from '../../src/config/load.ts'

const root = join(import.meta.dir, '../..')
const read = (name: string) => readFileSync(join(root, name), 'utf8')

/** The instructions of the Dockerfile's last stage (the image), continuation lines joined. */
function finalStage(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))
  const all = joined.map((l) => /^\s*(\w+)\s+(.*)$/.exec(l)!).map((m) => ({ op: m[1]!.toUpperCase(), args: m[2]!.trim() }))
  return all.slice(all.map((i) => i.op).lastIndexOf('FROM'))
}

const stage = finalStage(read('Dockerfile'))
const one = (op: string) => {
  const found = stage.filter((i) => i.op === op)
  expect(found.length).toBe(1)
  return found[0]!.args
}
const image = {
  user: one('USER'),
  uid: /useradd\b[^\n]*--uid (\d+)[^\n]*\s(\S+)[ \t]*$/m.exec(stage.filter((i) => i.op === 'RUN').map((i) => i.args.replace(/&&/g, '\n')).join('\n'))!,
  workdir: one('WORKDIR'),
  volumes: JSON.parse(one('VOLUME')) as string[],
  expose: one('EXPOSE'),
  entrypoint: JSON.parse(one('ENTRYPOINT')) as string[],
  cmd: JSON.parse(one('CMD')) as string[],
  env: Object.fromEntries(one('ENV').split(/\s+/).map((kv) => kv.split('=') as [string, string])),
}

const compose = YAML.parse(read('docker-compose.yml'))
const service = compose.services.sluice
const readme = read('README.md')

// The minimal config the README writes into config/sluice.yaml.
const heredoc = /cat > (config\/[\w.]+) <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(readme)

/** That config as the container reads it: the image's environment, in its working directory. */
function containerConfig() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-docker-'))
  try {
    const path = join(dir, 'sluice.yaml')
    writeFileSync(path, heredoc![2]!)
    return loadConfig({ config: path }, { ...image.env, OPENAI_API_KEY: 'sk-example' }, image.workdir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('the image', () => {
  test('runs the binary as its own user, in /data, on the exposed port', () => {
    expect(image.uid[2]).toBe(image.user)
    expect(image.uid[1]).toBe('10001')
    expect(image.entrypoint).toEqual(['/usr/local/bin/sluice'])
    expect(stage.some((i) => i.op === 'COPY' && i.args.endsWith(` ${image.entrypoint[0]}`))).toBe(true)
    expect(image.cmd).toEqual(['serve'])
    expect(image.volumes).toEqual([image.workdir])
    expect(image.env.SLUICE_PORT).toBe(image.expose)
    expect(image.env.SLUICE_HOST).toBe('0.0.0.0')
    expect(image.env.SLUICE_DB).toBe(`file:${image.workdir}/sluice.db`)
    // The directory is created and handed to that user, so a new named volume is too.
    expect(stage.some((i) => i.op === 'RUN' && i.args.includes(`chown ${image.user} ${image.workdir}`))).toBe(true)
  })

  test('.dockerignore keeps what the build needs in the context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim().replace(/^\//, '')).filter((l) => l && !l.startsWith('#'))
    for (const needed of ['src', 'scripts', 'drizzle', 'package.json', 'package-lock.json', 'bunfig.toml', 'tsconfig.json']) {
      expect(ignored).not.toContain(needed)
    }
    // Host-side files of the compose setup stay out of it (.env holds provider keys).
    expect(ignored).toEqual(expect.arrayContaining(['.env', 'config']))
  })
})

describe('docker-compose.yml', () => {
  test('builds this Dockerfile and passes the binary a command line, not a shell one', () => {
    expect(Object.keys(compose.services)).toEqual(['sluice'])
    expect(service.build).toBe('.')
    expect(service.entrypoint).toBeUndefined()
    expect(service.user).toBeUndefined()
    expect(Array.isArray(service.command)).toBe(true)
    expect(service.command[0]).toBe(image.cmd[0])
  })

  test('the data volume is a named volume on the image volume, holding SLUICE_DB', () => {
    const data = service.volumes.map((v: string) => v.split(':')).find((v: string[]) => v[1] === image.workdir)
    expect(data).toBeDefined()
    expect(data[0]).not.toMatch(/^[./~]/)
    expect(Object.keys(compose.volumes)).toContain(data[0])
    expect(posix.dirname(image.env.SLUICE_DB!.slice('file:'.length))).toBe(image.workdir)
  })

  test('--config names a file in a read-only bind mount of the directory the README writes it to', () => {
    const config = service.command[service.command.indexOf('--config') + 1] as string
    const mount = service.volumes.map((v: string) => v.split(':')).find((v: string[]) => config.startsWith(`${v[1]}/`))
    expect(mount).toBeDefined()
    expect(mount[0]).toMatch(/^\.\//)
    expect(mount[2]).toBe('ro')
    expect(heredoc).not.toBeNull()
    expect(posix.join(mount[0], config.slice(mount[1].length + 1))).toBe(posix.normalize(heredoc![1]!))
  })

  test('publishes the exposed port, waits out the drain, and hands the config its variables', () => {
    for (const port of service.ports as string[]) expect(port.split(':').at(-1)).toBe(image.expose)
    const config = containerConfig()
    expect(Number(/^(\d+)s$/.exec(service.stop_grace_period)![1]) * 1000).toBeGreaterThan(config.server.shutdown_grace_ms)
    for (const m of heredoc![2]!.matchAll(/\$\{([A-Z0-9_]+)/g)) expect(Object.keys(service.environment)).toContain(m[1]!)
  })

  test('is in the README as it is in the file', () => {
    expect(readme).toContain('```yaml docker-compose.yml\n' + read('docker-compose.yml') + '```\n')
  })

  test('docker compose accepts it, where Compose is installed', () => {
    const r = composeConfig('docker-compose.yml', root, { OPENAI_API_KEY: 'sk-example' })
    if (!r) {
      console.warn('Docker Compose is not installed: docker-compose.yml checked against the Dockerfile only')
      return
    }
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)
  })
})

describe("the README's config for the container", () => {
  test('is valid there, and the image environment puts the server on 0.0.0.0:8000 and the database in /data', () => {
    const config = containerConfig()
    expect(config.server.host).toBe('0.0.0.0')
    expect(config.server.port).toBe(Number(image.expose))
    expect(config.database.url).toBe(image.env.SLUICE_DB!)
    expect(config.providers.map((p) => p.name)).toEqual(['openai'])
  })
})
