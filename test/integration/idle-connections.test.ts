import { afterAll, beforeAll, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { basicConfig, CLIENT_KEY, startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts'

// A proxied request lifts the server's idle timeout (an upstream may take minutes to answer). Once
// it is over, the timeout must be back: otherwise every keep-alive connection that ever carried a
// request stays open for good, and a client can pile them up.
let mock: MockUpstream
let gw: TestGateway
beforeAll(async () => {
  mock = startMockUpstream()
  gw = await startGateway(basicConfig(mock.baseUrl))
})
afterAll(async () => {
  await gw.stop()
  mock.stop()
})

function request(stream: boolean): string {
  const body = JSON.stringify({ model: 'mock/m', stream, messages: [{ role: 'user', content: 'hi' }] })
  return (
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
}

test('a keep-alive connection is closed once idle after a plain request and a stream', async () => {
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1')
  let text = ''
  let idleSince = 0
  const closed = new Promise<number>((resolve) => {
    socket.on('close', () => resolve(Date.now() - idleSince))
    setTimeout(() => resolve(-1), 25_000)
  })
  await new Promise<void>((resolve) => socket.on('connect', resolve))
  socket.on('data', (d) => (text += d.toString('latin1')))
  socket.write(request(false))
  while (!text.includes('"chat.completion"')) await Bun.sleep(10)
  socket.write(request(true))
  while (!text.endsWith('0\r\n\r\n')) await Bun.sleep(10)
  idleSince = Date.now()
  expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2)
  const idleMs = await closed
  socket.destroy()
  // Bun's idle timeout is 10 s, checked on a coarse timer.
  expect(idleMs).toBeGreaterThan(0)
  expect(idleMs).toBeLessThan(20_000)
}, 30_000)
