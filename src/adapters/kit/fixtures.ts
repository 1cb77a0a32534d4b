import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { KitError } from './errors.ts'
import type { SafeFetch, SafeFetchInit } from './safe-fetch.ts'

/**
 * The adapter test kit: record an adapter's exchanges with its upstream once (against the real
 * service or a staging one), then replay them in tests with no network. Set on the process that
 * runs the adapter:
 *   SLUICE_ADAPTER_RECORD=fixtures.json   every exchange of every module provider is appended
 *   SLUICE_ADAPTER_REPLAY=fixtures.json   exchanges are answered from the file, in order per request
 * A recorded request's credentials (authorization, cookie, api keys, the account's secrets) are
 * written as "[redacted]" and matching ignores headers, so a recording holds no secret.
 */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body: string | null }
  response: { status: number; headers: Record<string, string>; body: string; base64?: true }
}

export interface Fixtures {
  mode: 'record' | 'replay'
  path: string
}

const SECRET_HEADER = /^(authorization|cookie|x-api-key|api-key|x-goog-api-key|proxy-authorization)$/i
const MAX_RECORDED_BYTES = 16 * 1024 * 1024

export function fixturesFromEnv(env: Record<string, string | undefined>): Fixtures | null {
  if (env.SLUICE_ADAPTER_REPLAY) return { mode: 'replay', path: env.SLUICE_ADAPTER_REPLAY }
  if (env.SLUICE_ADAPTER_RECORD) return { mode: 'record', path: env.SLUICE_ADAPTER_RECORD }
  return null
}

const headerObject = (headers: SafeFetchInit['headers']): Record<string, string> => Object.fromEntries(new Headers(headers ?? {}).entries())
const bodyText = (body: SafeFetchInit['body']): string | null => (body === undefined || body === null ? null : typeof body === 'string' ? body : '[binary body]')

function scrubbed(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]')
  return out
}

/** A fetch that records what `inner` answers, appending each exchange to the file. */
export function recordingFetch(inner: SafeFetch, path: string, secrets: () => readonly string[]): SafeFetch {
  return async (url, init = {}) => {
    const response = await inner(url, init)
    const bytes = new Uint8Array(await response.arrayBuffer())
    if (bytes.byteLength > MAX_RECORDED_BYTES) throw new KitError('too_large', `a recorded answer is larger than ${MAX_RECORDED_BYTES} bytes`)
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
    const binary = text.includes('\uFFFD')
    const headers = Object.fromEntries(Object.entries(headerObject(init.headers)).map(([k, v]) => [k, SECRET_HEADER.test(k) ? '[redacted]' : scrubbed(v, secrets())]))
    const exchange: Exchange = {
      request: { method: init.method ?? 'GET', url: scrubbed(String(url), secrets()), headers, body: bodyText(init.body) === null ? null : scrubbed(bodyText(init.body)!, secrets()) },
      response: { status: response.status, headers: Object.fromEntries(response.headers.entries()), body: binary ? Buffer.from(bytes).toString('base64') : scrubbed(text, secrets()), ...(binary ? { base64: true as const } : {}) },
    }
    const all: Exchange[] = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : []
    all.push(exchange)
    writeFileSync(path, JSON.stringify(all, null, 2) + '\n')
    return new Response(bytes, { status: response.status, headers: response.headers })
  }
}

/**
 * A fetch that answers from a recording: the next unused exchange with the same method, URL and
 * body (secrets in them compared as "[redacted]"). A request the recording does not have is an
 * error that names it, so a test cannot pass by reaching the network.
 */
export function replayingFetch(path: string, secrets: () => readonly string[]): SafeFetch {
  let exchanges: Exchange[] | null = null
  const used = new Set<number>()
  return async (url, init = {}) => {
    exchanges ??= JSON.parse(readFileSync(path, 'utf8')) as Exchange[]
    const method = init.method ?? 'GET'
    const wanted = { url: scrubbed(String(url), secrets()), body: bodyText(init.body) === null ? null : scrubbed(bodyText(init.body)!, secrets()) }
    const index = exchanges.findIndex((e, i) => !used.has(i) && e.request.method === method && e.request.url === wanted.url && e.request.body === wanted.body)
    if (index < 0) throw new KitError('bad_url', `no recorded exchange for ${method} ${wanted.url} in ${path}`)
    used.add(index)
    const r = exchanges[index]!.response
    return new Response(r.base64 ? Buffer.from(r.body, 'base64') : r.body, { status: r.status, headers: r.headers })
  }
}
