import { lookup as dnsLookup } from 'node:dns/promises'
import { KitError } from './errors.ts'
import { isPrivateAddress } from './private-address.ts'

export interface SafeFetchOptions {
  /** The whole exchange, from the first DNS query to the last body byte. */
  timeoutMs: number
  /** Name resolution plus the TCP connect (the connect part needs `deps.connectWatch`). */
  connectTimeoutMs?: number
  /** Let calls reach private, loopback and link-local addresses (a self-hosted upstream). */
  allowPrivate: boolean
  /** An HTTP(S) proxy URL every call goes through. */
  proxy?: string
  /** Cancels every call made with this fetch, and any body still being read. */
  signal?: AbortSignal
}

/** What a call may set; redirects, TLS and proxy settings are the fetch's own. */
export type SafeFetchInit = Pick<RequestInit, 'method' | 'headers' | 'body' | 'signal'>

export type SafeFetch = (url: string | URL, init?: SafeFetchInit) => Promise<Response>

/** Watches the TCP connect of one call; the gateway's connect watch has this shape. */
export interface ConnectWatcher {
  /** Starts watching; returns a function that stops the watch. */
  watch(url: string, timeoutMs: number, onTimeout: () => void): () => void
  /** Records an answer from the origin, which proves it reachable. */
  reachable?(url: string): void
}

export interface SafeFetchDeps {
  /** Every address a name resolves to (default: `dns.lookup` with `all: true`). */
  lookup?: (hostname: string) => Promise<string[]>
  fetch?: (url: string, init: BunFetchRequestInit) => Promise<Response>
  connectWatch?: ConnectWatcher
}

const defaultLookup = async (hostname: string) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address)

/**
 * A fetch for adapter code, which may be handed URLs it did not write. It refuses private,
 * loopback, link-local and metadata addresses (unless `allowPrivate`), checking every address a
 * name resolves to and then connecting to the checked address itself, so the name cannot resolve
 * elsewhere in between (DNS rebinding): the URL keeps its `Host` header and, for https, its TLS
 * server name and certificate check.
 *
 * Redirects are never followed: a 3xx comes back as it is, `Location` and `Set-Cookie` readable,
 * because following one would carry the call's headers (credentials included) to an address
 * nobody checked, while a login flow needs to read them. Following is the adapter's choice, made
 * as a second call, which is checked again.
 *
 * Through a proxy the proxy resolves the name, so there is nothing to pin: literal addresses and
 * whatever the name resolves to here are still checked, and a name that does not resolve here is
 * left to the proxy.
 */
export function createSafeFetch(options: SafeFetchOptions, deps: SafeFetchDeps = {}): SafeFetch {
  if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) throw new RangeError('timeoutMs must be a positive number of milliseconds')
  const lookup = deps.lookup ?? defaultLookup
  const send = deps.fetch ?? ((url: string, init: BunFetchRequestInit) => fetch(url, init))
  const connectMs = Math.min(options.connectTimeoutMs ?? options.timeoutMs, options.timeoutMs)

  return async (input, init = {}) => {
    const url = parseTarget(input)
    const outer = [options.signal, init.signal].filter((s): s is AbortSignal => s != null)
    for (const signal of outer) if (signal.aborted) throw cancelled(signal)

    const controller = new AbortController()
    const onAbort = (event: Event) => controller.abort(cancelled(event.target as AbortSignal))
    for (const signal of outer) signal.addEventListener('abort', onAbort, { once: true })
    const release = () => {
      clearTimeout(deadline)
      for (const signal of outer) signal.removeEventListener('abort', onAbort)
    }
    // The deadline also covers the body, which is read after this function returns; the timer is
    // the one thing that outlives the call, and it lets go of the caller's signals when it fires.
    const deadline = setTimeout(() => {
      release()
      controller.abort(new KitError('timeout', `${url.host} did not answer in full within ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    deadline.unref?.()

    let stopWatch = () => {}
    try {
      const address = await within(resolveTarget(url, lookup, options), connectMs, controller.signal, url.hostname)
      const request = pinned(url, address, init)
      const watched = options.proxy ?? request.url
      if (deps.connectWatch) {
        stopWatch = deps.connectWatch.watch(watched, connectMs, () =>
          controller.abort(new KitError('connect_timeout', `could not connect to ${url.host} within ${connectMs} ms`)),
        )
      }
      const response = await send(request.url, {
        method: init.method,
        headers: request.headers,
        body: init.body,
        signal: controller.signal,
        redirect: 'manual',
        // Bun's own idle timer would cut a long stream; the deadline above decides.
        timeout: false,
        ...(request.serverName ? { tls: { serverName: request.serverName } } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
      })
      stopWatch()
      deps.connectWatch?.reachable?.(watched)
      return response
    } catch (err) {
      stopWatch()
      release()
      throw controller.signal.aborted ? controller.signal.reason : err
    }
  }
}

function parseTarget(input: string | URL): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new KitError('bad_url', `not an absolute URL: ${String(input).slice(0, 200)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KitError('bad_url', `only http and https URLs can be fetched, not ${url.protocol}`)
  // Credentials in the URL would travel in a header nobody set on purpose.
  if (url.username || url.password) throw new KitError('bad_url', 'URLs with a user name or password are not fetched; send credentials in a header')
  return url
}

/** The bare host of a URL: IPv6 without its brackets. */
const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '')
const isLiteral = (host: string) => host.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(host)

/** The checked address to connect to, or null when the name is left to the proxy (or is a literal). */
async function resolveTarget(url: URL, lookup: (h: string) => Promise<string[]>, options: SafeFetchOptions): Promise<string | null> {
  const host = bareHost(url)
  if (isLiteral(host)) {
    if (!options.allowPrivate && isPrivateAddress(host)) throw blocked(url, host)
    return null
  }
  let addresses: string[]
  try {
    addresses = await lookup(host)
  } catch (err) {
    if (options.proxy) return null
    throw new KitError('dns_failed', `could not resolve ${host}`, { cause: err })
  }
  if (addresses.length === 0) {
    if (options.proxy) return null
    throw new KitError('dns_failed', `${host} resolves to no address`)
  }
  if (!options.allowPrivate) {
    const bad = addresses.find(isPrivateAddress)
    if (bad !== undefined) throw blocked(url, bad)
  }
  if (options.proxy) return null
  // IPv4 first: a host with both often has no IPv6 route, and there is no second try here.
  return addresses.find((a) => !a.includes(':')) ?? addresses[0]!
}

/** The request aimed at `address` while it still names the original host. */
function pinned(url: URL, address: string | null, init: SafeFetchInit): { url: string; headers: Headers; serverName?: string } {
  const headers = new Headers(init.headers)
  if (address === null) return { url: url.href, headers }
  const target = new URL(url.href)
  target.hostname = address.includes(':') ? `[${address}]` : address
  headers.set('host', url.host)
  return { url: target.href, headers, ...(url.protocol === 'https:' ? { serverName: bareHost(url) } : {}) }
}

/** `work`, unless the connect timeout or an abort comes first. */
function within<T>(work: Promise<T>, ms: number, signal: AbortSignal, host: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new KitError('connect_timeout', `could not resolve ${host} within ${ms} ms`)), ms)
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    })
  })
}

const blocked = (url: URL, address: string) =>
  new KitError(
    'blocked_address',
    `${url.host} is${bareHost(url) === address ? '' : ` at ${address},`} a private, loopback, link-local or metadata address, which this provider may not reach`,
  )

const cancelled = (signal: AbortSignal) => new KitError('aborted', 'the call was cancelled', { cause: signal.reason })
