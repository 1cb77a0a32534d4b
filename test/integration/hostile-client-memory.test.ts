import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect, type Socket } from 'node:net'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'
import { PROCESS_ADMIN_TOKEN, PROCESS_CLIENT_KEY, processConfig, startProcessGateway, type ProcessGateway } from '../helpers/process-gateway.ts'

// Memory is measured from /proc of a gateway running as its own process.
let mock: MockUpstream
let gw: ProcessGateway

beforeAll(async () => {
  mock = startMockUpstream()
  // Request bodies are kept in the log (and so in every live-tail row): rows of about 16 KB.
  gw = await startProcessGateway(processConfig(mock.baseUrl, { logging: { bodies: 'all', max_body_bytes: 16 * 1024 } }))
})
afterAll(async () => {
  await gw?.stop()
  mock.stop()
}, 20_000)

describe('memory under hostile clients', () => {
  test('six 100 MB posts to the admin API without a token, and a 120 MB login, are refused without being read', async () => {
    const before = gw.memory().rssMiB
    const big = new Uint8Array(100 * 1024 * 1024).fill(65)
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gw.url}/admin/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
      statuses.push(res.status)
      await res.text()
    }
    const login = await fetch(`${gw.url}/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(120 * 1024 * 1024).fill(65) })
    const after = gw.memory()
    // Before: a peak of 777 MiB.
    expect(after.peakMiB - before).toBeLessThan(64)
    expect(statuses.every((s) => s === 401 || s === 413)).toBe(true)
    expect(login.status).toBe(413)
  }, 60_000)

  test('live-tail subscribers that stop reading are dropped; the gateway\'s memory stays flat', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(16 * 1024) }] })
    const flood = async (count: number) => {
      let sent = 0
      const worker = async () => {
        while (sent < count) {
          sent++
          const res = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${PROCESS_CLIENT_KEY}`, 'content-type': 'application/json' },
            body,
          })
          await res.arrayBuffer()
        }
      }
      await Promise.all(Array.from({ length: 16 }, worker))
    }
    // The same traffic once without subscribers: caches, the log writer and the JIT settle.
    await flood(3000)
    const stalled: Array<{ socket: Socket; ended: boolean; bytes: number }> = []
    const { port } = new URL(gw.url)
    for (let i = 0; i < 3; i++) {
      const entry = { socket: connect(Number(port), '127.0.0.1'), ended: false, bytes: 0 }
      entry.socket.on('connect', () =>
        entry.socket.write(`GET /admin/api/requests/live HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: Bearer ${PROCESS_ADMIN_TOKEN}\r\n\r\n`),
      )
      entry.socket.on('data', (d) => (entry.bytes += d.length))
      entry.socket.on('end', () => (entry.ended = true))
      entry.socket.on('close', () => (entry.ended = true))
      entry.socket.on('error', () => {})
      // Reads nothing, ever.
      entry.socket.pause()
      stalled.push(entry)
    }
    await Bun.sleep(300)
    const before = gw.memory().rssMiB
    try {
      await flood(3000)
      await Bun.sleep(500)
      const after = gw.memory().rssMiB
      // Before: three stalled subscribers held every row, about 150 MB for these 3000.
      expect(after - before).toBeLessThan(40)
      // Reading again shows each was cut off: what was already on its way, then the end.
      for (const s of stalled) s.socket.resume()
      await Bun.sleep(1500)
      expect(stalled.map((s) => s.ended)).toEqual([true, true, true])
      for (const s of stalled) expect(s.bytes).toBeLessThan(20 * 1024 * 1024)
    } finally {
      for (const s of stalled) s.socket.destroy()
    }
  }, 90_000)
})
