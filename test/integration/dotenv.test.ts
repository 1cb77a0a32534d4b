import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { buildBinary } from '../helpers/agents.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// The runtime reads ./.env on its own: the binary says which file it read and which names it set
// (never the values), and warns about names of other proxies' .env files that mean nothing here.
let mock: MockUpstream
let dir: string

beforeAll(async () => {
  await buildBinary()
  mock = startMockUpstream()
  dir = mkdtempSync(join(tmpdir(), 'sluice-dotenv-'))
}, 120_000)
afterAll(() => {
  mock.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('a .env in the working directory is read, named in the log, and foreign names are pointed out', async () => {
  const secret = 'sk-from-dotenv-upstream-0123456789'
  writeFileSync(join(dir, '.env'), `OPENAI_API_KEY=${secret}\nOPENAI_BASE_URL=${mock.baseUrl}\nAPI_KEYS=["sk-a","sk-b"]\nTOKEN_POOL=[]\n`)
  const proc = Bun.spawn([resolve('dist/sluice'), '--port', '0', '--log-level', 'info'], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdout: 'pipe', stderr: 'pipe' })
  let text = ''
  const reader = proc.stdout.getReader()
  const deadline = Date.now() + 15_000
  while (!text.includes('sluice listening') && Date.now() < deadline) {
    const { done, value } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  proc.kill()
  await proc.exited
  const lines = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  const read = lines.find((l) => l.msg === 'environment read from a .env file')
  expect(read).toMatchObject({ file: join(dir, '.env'), names: ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'API_KEYS', 'TOKEN_POOL'] })
  expect(lines.find((l) => l.msg?.includes('other proxies'))?.names).toEqual(['API_KEYS', 'TOKEN_POOL'])
  // The values it read made the provider; none of them is printed.
  expect(lines.find((l) => l.msg === 'sluice listening')?.providers).toEqual(['openai'])
  expect(text).not.toContain(secret)
}, 30_000)
