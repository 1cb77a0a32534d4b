import type { TSchema } from '@sinclair/typebox'
import type { AdapterKit } from './kit/index.ts'
import type { KvStore } from './kit/kv.ts'
import type { AdapterLogger } from './kit/logger.ts'
import type { SafeFetch } from './kit/safe-fetch.ts'

/**
 * The contract between sluice and an adapter module, version 1. A module's default export is a
 * function that receives the kit (everything it may use: a module loaded by the compiled binary
 * cannot import npm packages) and returns an `AdapterModule`. A later version adds a new number;
 * version 1 stays loadable.
 *
 *   export default (sluice) => ({
 *     apiVersion: 1,
 *     protocol: 'openai-chat',
 *     options: sluice.t.Object({ base_url: sluice.t.String() }),
 *     async handle(request, ctx) { ... return sluice.chat.completion({ model: request.model, text }) },
 *   })
 */
export const ADAPTER_API_VERSION = 1

/** The protocols a module may speak; its answers are in that protocol's wire shape. */
export const ADAPTER_PROTOCOLS = ['openai-chat', 'openai-responses', 'anthropic', 'gemini'] as const
export type AdapterProtocol = (typeof ADAPTER_PROTOCOLS)[number]

/** One request, already in the module's protocol (translated from whatever the client spoke). */
export interface AdapterRequest {
  /** The model id as the module serves it (no provider prefix). */
  model: string
  /** Whether the client wants a stream (answer with `text/event-stream`). */
  stream: boolean
  /** The protocol's request body, parsed (`messages`, `tools`, ... for openai-chat). */
  body: Record<string, unknown>
  /** Protocol headers the client sent that an upstream must see (`anthropic-beta`, ...). */
  headers: Readonly<Record<string, string>>
}

/** The account (pool member) a request runs on. */
export interface AdapterAccount {
  /** Stable id: `key:<fingerprint>` for a key from the config file, `acct_...` for a stored account. */
  readonly id: string
  /** The label the config or the login gave it, if any. */
  readonly label: string | null
  /** A static token (a key from the config) or the stored account's current credentials. */
  readonly credentials: Readonly<Record<string, unknown>>
  /**
   * Replaces the stored credentials (a rotated refresh token): written, sealed, before this
   * returns, so a crash right after cannot lose the token the upstream just issued.
   */
  save(credentials: Record<string, unknown>): Promise<void>
}

/** What a call may use; one context per request. */
export interface AdapterContext {
  /** The provider's `options`, validated against the module's schema. */
  readonly options: Readonly<Record<string, unknown>>
  readonly provider: string
  readonly account: AdapterAccount
  /** Per-account values with a time to live (conversation ids, short-lived tokens). */
  readonly kv: KvStore
  /** The provider's proxy and timeouts, no redirects, private addresses refused unless allowed. */
  readonly fetch: SafeFetch
  /** One run at a time per key across concurrent requests (a token refresh). */
  lock<T>(key: string, work: () => Promise<T>): Promise<T>
  readonly log: AdapterLogger
  /** Fires when the client leaves or a gateway timeout ends the request. */
  readonly signal: AbortSignal
  now(): number
}

/** What `sluice accounts login` gives a module's login: the terminal and a loopback callback. */
export interface LoginContext {
  readonly options: Readonly<Record<string, unknown>>
  readonly provider: string
  readonly fetch: SafeFetch
  /** Prints a line for the person logging in (a device code and where to enter it). */
  say(text: string): void
  sleep(ms: number): Promise<void>
  /**
   * Listens on 127.0.0.1 for an OAuth redirect (PKCE flows): `redirectUri` goes into the
   * authorization URL, `wait()` resolves with the query of the first request to it.
   */
  loopback(options?: { port?: number; path?: string }): Promise<{ redirectUri: string; wait(): Promise<URLSearchParams>; close(): void }>
  readonly signal: AbortSignal
  now(): number
}

/** Credentials as a module returns them; `expires_at` (ms since the epoch) makes sluice refresh ahead of it. */
export interface Credentials extends Record<string, unknown> {
  expires_at?: number
}

export interface AdapterModule {
  apiVersion: typeof ADAPTER_API_VERSION
  protocol: AdapterProtocol
  /** A schema (built with `sluice.t`) for the provider's `options`; the file is refused when they do not match. */
  options?: TSchema
  /** Answers one request: a Response in the protocol's shape (JSON, or an SSE stream when `request.stream`). */
  handle(request: AdapterRequest, ctx: AdapterContext): Promise<Response>
  /**
   * New credentials for a stored account whose token expires soon (or was refused). Called once at
   * a time per account; what it returns is saved, sealed, before any request uses it. Throw
   * `sluice.AccountError` with `permanent: true` (an `invalid_grant`) to disable the account.
   */
  refresh?(account: AdapterAccount, ctx: AdapterContext): Promise<Credentials>
  /** Logs an account in (`sluice accounts login PROVIDER`): device code, or a loopback PKCE callback. */
  login?(ctx: LoginContext): Promise<{ credentials: Credentials; label?: string }>
  /** What is left of the account's quota, shown in the admin API and the dashboard. */
  quota?(ctx: AdapterContext): Promise<Record<string, unknown>>
}

/** What a module file exports by default. */
export type AdapterFactory = (kit: AdapterKit) => AdapterModule | Promise<AdapterModule>
