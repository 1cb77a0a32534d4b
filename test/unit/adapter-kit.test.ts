import { describe, expect, test } from 'bun:test'
import { KitError } from '../../src/adapters/kit/errors.ts'
import { parsePath, readPath, renderTemplate } from '../../src/adapters/kit/json-path.ts'
import { createMemoryKv } from '../../src/adapters/kit/kv.ts'
import { createAdapterLogger, isSecretField } from '../../src/adapters/kit/logger.ts'
import { singleFlight } from '../../src/adapters/kit/single-flight.ts'
import { createLogger, secretScrubber } from '../../src/observability/logger.ts'

function thrown(work: () => unknown): KitError {
  try {
    work()
  } catch (err) {
    expect(err).toBeInstanceOf(KitError)
    return err as KitError
  }
  throw new Error('expected a failure')
}

describe('single flight', () => {
  test('100 concurrent callers with one key share exactly one execution and its result', async () => {
    const flight = singleFlight<string, number>()
    let runs = 0
    let release!: (n: number) => void
    const work = () => {
      runs++
      return new Promise<number>((resolve) => (release = resolve))
    }
    const callers = Array.from({ length: 100 }, () => flight.run('token', work))
    expect(flight.size()).toBe(1)
    release(42)
    expect(await Promise.all(callers)).toEqual(Array(100).fill(42))
    expect(runs).toBe(1)
  })

  test('an error reaches every waiter, and the key is free before any of them hears of it', async () => {
    const flight = singleFlight<string, string>()
    let runs = 0
    const failing = async () => {
      runs++
      await Bun.sleep(5)
      throw new Error('refresh failed')
    }
    const retried: Promise<string>[] = []
    const callers = Array.from({ length: 10 }, () =>
      flight.run('k', failing).catch((err: Error) => {
        // A retry from the handler starts a fresh run rather than rejoining the failed one.
        retried.push(flight.run('k', async () => `retry after: ${err.message}`))
        return err.message
      }),
    )
    expect(await Promise.all(callers)).toEqual(Array(10).fill('refresh failed'))
    expect(runs).toBe(1)
    expect(new Set(await Promise.all(retried))).toEqual(new Set(['retry after: refresh failed']))
    expect(flight.size()).toBe(0)
  })

  test('after it settles the next call runs again; other keys never wait on it; a throw before any await still rejects', async () => {
    const flight = singleFlight<string, string>()
    const runs: string[] = []
    const work = (key: string) => async () => {
      runs.push(key)
      return key
    }
    expect(await Promise.all([flight.run('a', work('a')), flight.run('b', work('b'))])).toEqual(['a', 'b'])
    expect(await flight.run('a', work('a'))).toBe('a')
    expect(runs).toEqual(['a', 'b', 'a'])
    expect(flight.size()).toBe(0)
    const sync = () => {
      throw new Error('sync')
    }
    await expect(flight.run('c', sync as () => Promise<string>)).rejects.toThrow('sync')
    expect(flight.size()).toBe(0)
  })
})

describe('key-value store in memory', () => {
  const clock = () => {
    let t = 1_000_000
    return { now: () => t, advance: (ms: number) => (t += ms) }
  }

  test('get, set and delete; values come back as copies', async () => {
    const kv = createMemoryKv(clock())
    const value = { cookie: 'sid=1', ids: [1, 2] }
    await kv.set('session', value, 60_000)
    value.ids.push(3)
    expect(await kv.get('session')).toEqual({ cookie: 'sid=1', ids: [1, 2] })
    await kv.set('session', 'replaced', 60_000)
    expect(await kv.get('session')).toBe('replaced')
    await kv.delete('session')
    expect(await kv.get('session')).toBeUndefined()
    await kv.delete('never-set')
  })

  test('an entry expires at its TTL on the injected clock', async () => {
    const c = clock()
    const kv = createMemoryKv(c)
    await kv.set('token', 'abc', 1000)
    c.advance(999)
    expect(await kv.get('token')).toBe('abc')
    c.advance(1)
    expect(await kv.get('token')).toBeUndefined()
  })

  test('what a JSON store could not keep is refused at set', async () => {
    const kv = createMemoryKv(clock(), { maxValueBytes: 10 })
    await expect(kv.set('k', 'x', 0)).rejects.toThrow(RangeError)
    await expect(kv.set('k', 'x', Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError)
    await expect(kv.set('', 'x', 1000)).rejects.toThrow(TypeError)
    await expect(kv.set('k', undefined as never, 1000)).rejects.toThrow(TypeError)
    await expect(kv.set('k', 'x'.repeat(20), 1000)).rejects.toThrow('larger than 10 bytes')
  })

  test('past its size the store drops expired entries first, then the oldest', async () => {
    const c = clock()
    const kv = createMemoryKv(c, { maxEntries: 3 })
    await kv.set('short', 1, 10)
    await kv.set('a', 1, 60_000)
    await kv.set('b', 2, 60_000)
    c.advance(20)
    await kv.set('c', 3, 60_000)
    expect([await kv.get('a'), await kv.get('b'), await kv.get('c')]).toEqual([1, 2, 3])
    await kv.set('d', 4, 60_000)
    expect(await kv.get('a')).toBeUndefined()
    expect([await kv.get('b'), await kv.get('c'), await kv.get('d')]).toEqual([2, 3, 4])
  })
})

describe('adapter logger', () => {
  function capture() {
    const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
    const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg })
    return { lines, target: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
  }

  test('registered secrets are cut from the message and from every string in the fields', () => {
    const { lines, target } = capture()
    const log = createAdapterLogger(target, { secrets: () => ['account-password-123'] })
    log.secret('eyJhbGciOi.fresh-access-token')
    log.secret('short')
    log.warn(
      { upstream: { body: 'echo: eyJhbGciOi.fresh-access-token', list: ['account-password-123', 'short'] }, status: 401 },
      'login with account-password-123 failed',
    )
    expect(lines).toEqual([
      {
        level: 'warn',
        obj: { upstream: { body: 'echo: [redacted]', list: ['[redacted]', 'short'] }, status: 401 },
        msg: 'login with [redacted] failed',
      },
    ])
  })

  test('fields named like credentials are replaced at any depth, whatever they hold', () => {
    const { lines, target } = capture()
    createAdapterLogger(target).info({
      request: { headers: { Authorization: 'Bearer abc', Cookie: 'sid=1', 'x-api-key': 'k', accept: 'json' } },
      deep: { a: { b: { c: { refresh_token: 'r', accessToken: 't', password: 'p', tokens: { prompt: 3 }, max_tokens: 5 } } } },
    })
    expect(lines[0]!.obj).toEqual({
      request: { headers: { Authorization: '[redacted]', Cookie: '[redacted]', 'x-api-key': '[redacted]', accept: 'json' } },
      deep: { a: { b: { c: { refresh_token: '[redacted]', accessToken: '[redacted]', password: '[redacted]', tokens: { prompt: 3 }, max_tokens: 5 } } } },
    })
    expect(['set-cookie', 'client_secret', 'id_token', 'sessionToken', 'api_key', 'apiKey', 'key'].every(isSecretField)).toBe(true)
    expect(['tokens', 'max_tokens', 'token_count', 'keys', 'model'].some(isSecretField)).toBe(false)
  })

  test('errors, Headers, bytes and cycles are logged safely', () => {
    const { lines, target } = capture()
    const log = createAdapterLogger(target, { secrets: () => ['sk-live-0123456789'] })
    const cyclic: Record<string, unknown> = { name: 'loop' }
    cyclic.self = cyclic
    const shared = { n: 1 }
    log.error({
      err: new Error('upstream said sk-live-0123456789 is invalid'),
      headers: new Headers({ authorization: 'Bearer x', 'content-type': 'text/plain' }),
      raw: new Uint8Array(12),
      cyclic,
      pair: [shared, shared],
    })
    const obj = lines[0]!.obj as Record<string, any>
    expect(obj.err.message).toBe('upstream said [redacted] is invalid')
    expect(obj.err.stack).not.toContain('sk-live-0123456789')
    expect(obj.headers).toEqual({ authorization: '[redacted]', 'content-type': 'text/plain' })
    expect(obj.raw).toBe('[12 bytes]')
    expect(obj.cyclic).toEqual({ name: 'loop', self: '[circular]' })
    expect(obj.pair).toEqual([{ n: 1 }, { n: 1 }])
  })

  test('a secret registered after hundreds of rotated ones is still scrubbed', () => {
    const { lines, target } = capture()
    const log = createAdapterLogger(target)
    for (let i = 0; i < 300; i++) log.secret(`rotated-token-${i}`)
    log.info({}, 'newest rotated-token-299, oldest kept rotated-token-44')
    expect(lines[0]!.msg).toBe('newest [redacted], oldest kept [redacted]')
  })

  test('a message alone is logged, and the real process logger takes the lines', () => {
    const out: string[] = []
    const logger = createLogger({ level: 'debug', pretty: false, destination: { write: (l: string) => void out.push(l) }, scrub: secretScrubber(() => []) })
    const log = createAdapterLogger(logger)
    log.secret('cookie-value-abcdef')
    log.debug('session cookie-value-abcdef refreshed')
    log.info({ account: 'a1', cookie: 'cookie-value-abcdef' }, 'ok')
    const [first, second] = out.map((l) => JSON.parse(l))
    expect(first).toMatchObject({ level: 'debug', msg: 'session [redacted] refreshed' })
    expect(second).toMatchObject({ level: 'info', account: 'a1', cookie: '[redacted]', msg: 'ok' })
    expect(out.join('')).not.toContain('cookie-value-abcdef')
  })
})

describe('paths and templates', () => {
  const doc = { data: { items: [{ id: 'a1' }, { id: 'b2', 'odd key': { x: 1 } }] }, ':event-type': 'chunk', zero: 0 }

  test('dotted, bracketed and $-rooted paths read the same values', () => {
    expect(readPath(doc, 'data.items[0].id')).toBe('a1')
    expect(readPath(doc, '$.data.items[1].id')).toBe('b2')
    expect(readPath(doc, "$.data.items[1]['odd key'].x")).toBe(1)
    expect(readPath(doc, '$["data"].items[1]["odd key"]')).toEqual({ x: 1 })
    expect(readPath(doc, ':event-type')).toBe('chunk')
    expect(readPath(doc, 'zero')).toBe(0)
    expect(readPath(doc, '$')).toBe(doc)
    expect(readPath(doc, ['data', 'items', 0, 'id'])).toBe('a1')
    expect(parsePath("$.a[2]['b\\'c']")).toEqual(['a', 2, "b'c"])
  })

  test('a path that leads nowhere is undefined, and reads only own fields', () => {
    expect(readPath(doc, 'data.items[5].id')).toBeUndefined()
    expect(readPath(doc, 'data.missing.deeper')).toBeUndefined()
    expect(readPath(doc, 'data.items.id')).toBeUndefined()
    expect(readPath(doc, ':event-type.length')).toBeUndefined()
    expect(readPath(doc, 'data[0]')).toBeUndefined()
    expect(readPath(null, 'a')).toBeUndefined()
    expect(readPath({}, '__proto__')).toBeUndefined()
    expect(readPath({}, 'constructor.name')).toBeUndefined()
  })

  test('a malformed path is an error that quotes it', () => {
    for (const bad of ['a..b', 'a.', 'a[x]', 'a[-1]', "a['open", 'a[0', '$x', '.a']) {
      const err = thrown(() => parsePath(bad))
      expect(err.code).toBe('bad_path')
      expect(err.message).toContain(`"${bad}"`)
    }
  })

  test('templates fill variables, URL-encoding them when asked, and leave JSON braces alone', () => {
    const values = { conversation_id: 'c/1 2?', account: { region: 'eu' }, n: 3 }
    expect(renderTemplate('https://host/chat/{conversation_id}', values, { encode: true })).toBe('https://host/chat/c%2F1%202%3F')
    expect(renderTemplate('https://{account.region}.host/chat/{conversation_id}?n={n}', values)).toBe('https://eu.host/chat/c/1 2??n=3')
    expect(renderTemplate('{"id": "{n}", "empty": {}}', values)).toBe('{"id": "3", "empty": {}}')
  })

  test('a variable with no value is an error that names it; an object is not text', () => {
    const missing = thrown(() => renderTemplate('https://host/chat/{conversation_id}', { other: 1 }))
    expect(missing.code).toBe('missing_variable')
    expect(missing.message).toContain('"conversation_id"')
    expect(thrown(() => renderTemplate('/x/{id}', { id: null })).code).toBe('missing_variable')
    const object = thrown(() => renderTemplate('/x/{account}', { account: { region: 'eu' } }))
    expect(object.code).toBe('bad_template')
    expect(object.message).toContain('"account"')
  })
})
