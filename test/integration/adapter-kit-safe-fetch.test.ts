import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KitError } from '../../src/adapters/kit/errors.ts'
import { isPrivateAddress } from '../../src/adapters/kit/private-address.ts'
import { readBytes, readJson, readText } from '../../src/adapters/kit/read-body.ts'
import { createSafeFetch, type SafeFetchDeps, type SafeFetchOptions } from '../../src/adapters/kit/safe-fetch.ts'
import { gzipBombResponse } from '../helpers/gzip-bomb.ts'

// Every server here listens on 127.0.0.1. Addresses outside the loopback range appear only in
// calls that must be refused, and those go to a recording fetch that never touches the network.

type Server = ReturnType<typeof Bun.serve>
const hits: Record<string, number> = {}
const hangs: Array<() => void> = []
let server: Server
let redirectTarget: Server
let base: string

beforeAll(() => {
  redirectTarget = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch() {
      hits.target = (hits.target ?? 0) + 1
      return new Response('you should not be here')
    },
  })
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      const url = new URL(req.url)
      hits[url.pathname] = (hits[url.pathname] ?? 0) + 1
      switch (url.pathname) {
        case '/json':
          return Response.json({ ok: true, host: req.headers.get('host'), method: req.method })
        case '/redirect':
          return new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${redirectTarget.port}/stolen`, 'set-cookie': 'sid=1' } })
        case '/hang':
          return new Promise<Response>((resolve) => hangs.push(() => resolve(new Response('late'))))
        case '/stall-body':
          return new Response(
            new ReadableStream({
              start(c) {
                c.enqueue(new TextEncoder().encode('{"partial":'))
                hangs.push(() => c.close())
              },
            }),
          )
        case '/big':
          return new Response('x'.repeat(5000))
        case '/big-chunked':
          return new Response(
            new ReadableStream({
              pull(c) {
                c.enqueue(new TextEncoder().encode('y'.repeat(1000)))
              },
            }),
          )
        case '/bomb':
          return gzipBombResponse()
        case '/not-json':
          return new Response('<html>oops</html>')
        default:
          return new Response('not found', { status: 404 })
      }
    },
  })
  base = `http://127.0.0.1:${server.port}`
})

afterAll(() => {
  for (const release of hangs) {
    try {
      release()
    } catch {
      // That body was already cancelled by its reader.
    }
  }
  server.stop(true)
  redirectTarget.stop(true)
})

const safe = (options: Partial<SafeFetchOptions> = {}, deps: SafeFetchDeps = {}) =>
  createSafeFetch({ timeoutMs: 5000, allowPrivate: false, ...options }, deps)

/** A fetch that records what would have been sent and sends nothing. */
function recordingFetch() {
  const calls: string[] = []
  const fetch = async (url: string) => {
    calls.push(url)
    return new Response('recorded')
  }
  return { calls, fetch }
}

async function failure(work: Promise<unknown>): Promise<KitError> {
  try {
    await work
  } catch (err) {
    expect(err).toBeInstanceOf(KitError)
    return err as KitError
  }
  throw new Error('expected a failure')
}

describe('private addresses', () => {
  test('loopback, private, CGNAT, link-local, metadata, ULA and their IPv4-mapped, NAT64 and 6to4 forms are private', () => {
    const privateOnes = [
      '127.0.0.1', '127.255.0.9', '0.0.0.0', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1',
      '100.100.100.200', '169.254.169.254', '192.0.0.192', '168.63.129.16', '224.0.0.1', '255.255.255.255',
      '::', '::1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '::127.0.0.1',
      'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd00:ec2::254', 'ff02::1', '64:ff9b::7f00:1', '64:ff9b::a9fe:a9fe',
      '2002:7f00:1::', '2002:c0a8:101::1', '2001:db8::1', '2001::1',
      'not an address', '',
    ]
    const publicOnes = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::']
    expect(privateOnes.filter((ip) => !isPrivateAddress(ip))).toEqual([])
    expect(publicOnes.filter(isPrivateAddress)).toEqual([])
  })
})

describe('safe fetch: address checks', () => {
  test('127.0.0.1 is refused, and the server is never contacted', async () => {
    const before = hits['/json'] ?? 0
    const err = await failure(safe()(`${base}/json`))
    expect(err.code).toBe('blocked_address')
    expect(err.message).toContain('127.0.0.1')
    expect(hits['/json'] ?? 0).toBe(before)
  })

  test('with allowPrivate the same call succeeds', async () => {
    const res = await safe({ allowPrivate: true })(`${base}/json`, { method: 'POST', body: '{}' })
    expect(res.status).toBe(200)
    expect(await readJson(res, 1024)).toMatchObject({ ok: true, method: 'POST' })
  })

  test('localhost is refused by what it resolves to', async () => {
    const err = await failure(safe()(`http://localhost:${server.port}/json`))
    expect(err.code).toBe('blocked_address')
  })

  test('literal private addresses in every spelling are refused before any connection', async () => {
    const rec = recordingFetch()
    const f = safe({}, { fetch: rec.fetch })
    const urls = [
      'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://[fd00:ec2::254]/latest/meta-data/',
      'http://169.254.169.254/latest/meta-data/', 'http://2130706433/', 'http://0x7f.1/', 'http://0/', 'https://10.0.0.1/',
    ]
    for (const url of urls) expect((await failure(f(url))).code).toBe('blocked_address')
    expect(rec.calls).toEqual([])
  })

  test('a name is refused when any one of its addresses is private', async () => {
    const rec = recordingFetch()
    const lookup = async (host: string) => (host === 'metadata.test' ? ['169.254.169.254'] : ['93.184.215.14', '10.0.0.7'])
    const f = safe({}, { fetch: rec.fetch, lookup })
    const one = await failure(f('http://metadata.test/latest/meta-data/iam/'))
    expect(one.code).toBe('blocked_address')
    expect(one.message).toContain('169.254.169.254')
    const mixed = await failure(f('https://mixed.test/'))
    expect(mixed.message).toContain('10.0.0.7')
    expect(rec.calls).toEqual([])
  })

  test('a public name connects to the address that was checked, keeping its Host header and TLS name', async () => {
    const sent: Array<{ url: string; init: BunFetchRequestInit }> = []
    const fetch = async (url: string, init: BunFetchRequestInit) => {
      sent.push({ url, init })
      return new Response('ok')
    }
    const f = safe({}, { fetch, lookup: async () => ['2606:4700::1111', '93.184.215.14'] })
    await f('https://api.example.test:8443/v1/chat?x=1', { headers: { authorization: 'Bearer t' } })
    expect(sent).toHaveLength(1)
    expect(sent[0]!.url).toBe('https://93.184.215.14:8443/v1/chat?x=1')
    const headers = sent[0]!.init.headers as Headers
    expect(headers.get('host')).toBe('api.example.test:8443')
    expect(headers.get('authorization')).toBe('Bearer t')
    expect(sent[0]!.init.tls).toEqual({ serverName: 'api.example.test' })
    expect(sent[0]!.init.redirect).toBe('manual')
  })

  test('pinned to the checked address, a real call reaches the server under its own name', async () => {
    const f = safe({ allowPrivate: true }, { lookup: async () => ['127.0.0.1'] })
    const res = await f(`http://upstream.test:${server.port}/json`)
    expect(await readJson(res, 1024)).toMatchObject({ ok: true, host: `upstream.test:${server.port}` })
  })

  test('only absolute http and https URLs without credentials are fetched', async () => {
    const f = safe({ allowPrivate: true })
    for (const url of ['/relative', 'ftp://127.0.0.1/x', 'file:///etc/passwd', `http://user:pw@127.0.0.1:${server.port}/json`]) {
      expect((await failure(f(url))).code).toBe('bad_url')
    }
  })
})

describe('safe fetch: redirects, time and cancellation', () => {
  test('a redirect comes back as it is, and its target is never contacted', async () => {
    const res = await safe({ allowPrivate: true })(`${base}/redirect`, { headers: { authorization: 'Bearer secret' } })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toContain('/stolen')
    expect(res.headers.get('set-cookie')).toBe('sid=1')
    await Bun.sleep(50)
    expect(hits.target ?? 0).toBe(0)
  })

  test('an upstream that never answers fails at the timeout', async () => {
    const started = performance.now()
    const err = await failure(safe({ allowPrivate: true, timeoutMs: 300 })(`${base}/hang`))
    expect(err.code).toBe('timeout')
    const took = performance.now() - started
    expect(took).toBeGreaterThanOrEqual(250)
    expect(took).toBeLessThan(3000)
  })

  test('the timeout covers the body: a body that stalls fails while it is read', async () => {
    const res = await safe({ allowPrivate: true, timeoutMs: 300 })(`${base}/stall-body`)
    expect(res.status).toBe(200)
    const started = performance.now()
    expect((await failure(readText(res, 1024))).code).toBe('timeout')
    expect(performance.now() - started).toBeLessThan(3000)
  })

  test("the fetch's signal and the call's signal both cancel", async () => {
    const outer = new AbortController()
    const pending = safe({ allowPrivate: true, signal: outer.signal })(`${base}/hang`)
    setTimeout(() => outer.abort(new Error('shutting down')), 50)
    const err = await failure(pending)
    expect(err.code).toBe('aborted')
    expect((err.cause as Error).message).toBe('shutting down')

    const call = new AbortController()
    const second = safe({ allowPrivate: true })(`${base}/hang`, { signal: call.signal })
    setTimeout(() => call.abort(), 50)
    expect((await failure(second)).code).toBe('aborted')
  })

  test('an already-aborted signal fails at once, without a request', async () => {
    const before = hits['/json'] ?? 0
    const f = safe({ allowPrivate: true, signal: AbortSignal.abort() })
    expect((await failure(f(`${base}/json`))).code).toBe('aborted')
    expect(hits['/json'] ?? 0).toBe(before)
  })

  test('name resolution is bounded by the connect timeout', async () => {
    const f = safe({ timeoutMs: 5000, connectTimeoutMs: 100 }, { lookup: () => new Promise(() => {}) })
    const started = performance.now()
    const err = await failure(f('http://slow-dns.test/'))
    expect(err.code).toBe('connect_timeout')
    expect(performance.now() - started).toBeLessThan(2000)
  })

  test('the connect timeout reaches the connect watch, which watches the address actually dialled', async () => {
    const watched: Array<{ url: string; ms: number }> = []
    const connectWatch = {
      watch(url: string, ms: number, onTimeout: () => void) {
        watched.push({ url, ms })
        const timer = setTimeout(onTimeout, 50)
        return () => clearTimeout(timer)
      },
    }
    const f = safe({ allowPrivate: true, connectTimeoutMs: 700 }, { lookup: async () => ['127.0.0.1'], connectWatch })
    expect((await failure(f(`http://upstream.test:${server.port}/hang`))).code).toBe('connect_timeout')
    expect(watched).toEqual([{ url: `http://127.0.0.1:${server.port}/hang`, ms: 700 }])
    // A call that connects stops the watch: its timer never fires.
    const res = await f(`http://upstream.test:${server.port}/json`)
    await Bun.sleep(80)
    expect(res.status).toBe(200)
  })
})

describe('safe fetch: proxy', () => {
  test('calls go through the proxy, which resolves the name itself', async () => {
    const seen: string[] = []
    const proxy = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch(req) {
        seen.push(`${req.url} host=${req.headers.get('host')}`)
        return new Response('via proxy')
      },
    })
    try {
      const f = safe({ proxy: `http://127.0.0.1:${proxy.port}` }, { lookup: async () => Promise.reject(new Error('ENOTFOUND')) })
      const res = await f('http://upstream.test/v1/models?x=1')
      expect(await readText(res, 1024)).toBe('via proxy')
      expect(seen).toEqual(['http://upstream.test/v1/models?x=1 host=upstream.test'])
    } finally {
      proxy.stop(true)
    }
  })

  test('through a proxy, a name that resolves to a private address here is still refused', async () => {
    const rec = recordingFetch()
    const f = safe({ proxy: 'http://127.0.0.1:9' }, { fetch: rec.fetch, lookup: async () => ['192.168.0.10'] })
    expect((await failure(f('http://intranet.test/'))).code).toBe('blocked_address')
    expect(rec.calls).toEqual([])
  })
})

describe('bounded body reads', () => {
  const f = () => safe({ allowPrivate: true })

  test('a body within the bound is read whole, as bytes, text or JSON', async () => {
    expect((await readBytes(await f()(`${base}/big`), 5000)).length).toBe(5000)
    expect(await readText(await f()(`${base}/big`), 5000)).toBe('x'.repeat(5000))
    expect(await readJson(await f()(`${base}/json`), 1000)).toMatchObject({ ok: true })
  })

  test('a declared length over the bound is refused unread; an endless body is cut at the bound', async () => {
    expect((await failure(readText(await f()(`${base}/big`), 4999))).code).toBe('too_large')
    const err = await failure(readText(await f()(`${base}/big-chunked`), 10_000))
    expect(err.code).toBe('too_large')
    expect(err.message).toContain('10000')
  })

  test('a gzip bomb is cut at the bound of what it inflates to', async () => {
    const started = performance.now()
    expect((await failure(readJson(await f()(`${base}/bomb`), 1 << 20))).code).toBe('too_large')
    expect(performance.now() - started).toBeLessThan(10_000)
  })

  test('a body that is not JSON is a clear error', async () => {
    const err = await failure(readJson(await f()(`${base}/not-json`), 1024))
    expect(err.code).toBe('bad_json')
    expect(err.message).toContain('the response body is not valid JSON')
  })
})

// TLS through a pinned address, against a certificate made for the test (skipped without openssl).
const openssl = Bun.which('openssl')
describe.skipIf(!openssl)('safe fetch: https to a pinned address', () => {
  let dir = ''
  let tls: Server
  let ca = ''
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kit-tls-'))
    const made = Bun.spawnSync([openssl!, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=upstream.test',
      '-addext', 'subjectAltName=DNS:upstream.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stderr: 'pipe' })
    expect(made.exitCode).toBe(0)
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8')
    tls = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      tls: { cert: ca, key: readFileSync(join(dir, 'key.pem'), 'utf8') },
      fetch: (req) => Response.json({ host: req.headers.get('host') }),
    })
  })
  afterAll(() => {
    tls?.stop(true)
    rmSync(dir, { recursive: true, force: true })
  })

  // The test's own CA added to what safe fetch sends; everything else is the real call.
  const trusting = (url: string, init: BunFetchRequestInit) => fetch(url, { ...init, tls: { ...init.tls, ca } })

  test('the certificate is checked against the name in the URL, not the address dialled', async () => {
    const f = safe({ allowPrivate: true }, { fetch: trusting, lookup: async () => ['127.0.0.1'] })
    const res = await f(`https://upstream.test:${tls.port}/`)
    expect(await readJson(res, 1024)).toEqual({ host: `upstream.test:${tls.port}` })
    // The same server under another name: its certificate does not cover that name.
    await expect(f(`https://impostor.test:${tls.port}/`)).rejects.toThrow(/CERT|certificate/i)
  })
})
