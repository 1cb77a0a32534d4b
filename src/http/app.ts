import { swagger } from '@elysiajs/swagger'
import { Elysia } from 'elysia'
import { VERSION } from '../version.ts'
import { ClientClosed } from '../gateway/upstream/upstream-call.ts'
import { GatewayError } from '../gateway/errors.ts'
import type { Deps } from './deps.ts'
import { healthRoutes } from './health.ts'
import { renderOpenAIError } from './openai/errors.ts'
import { openaiRoutes } from './openai/routes.ts'
import { anthropicRoutes } from './anthropic/routes.ts'
import { renderAnthropicError } from './anthropic/errors.ts'
import { isGeminiPath, renderGeminiError } from './gemini/errors.ts'
import { geminiRoutes } from './gemini/routes.ts'
import { adminRoutes } from './admin/routes.ts'
import { keyRoutes } from './admin/keys.ts'
import { usageRoutes } from './admin/usage.ts'
import { configRoutes } from './admin/config-routes.ts'
import { accountRoutes } from './admin/accounts.ts'
import { playgroundRoutes } from './admin/playground.ts'
import { instanceRoutes } from './admin/instances.ts'
import { dashboardRoutes } from './dashboard/routes.ts'
import { Traces } from './traces.ts'
import { addCorsHeaders, corsPreflight, isCorsPath } from './cors.ts'
import { guardArrival } from './request-guard.ts'
import { clip } from '../lib/clip.ts'
import { storageRefusal } from '../storage/storage-errors.ts'

/** Client API paths that a base URL without /v1 turns into 404s. */
const API_PATHS = new Set(['/chat/completions', '/embeddings', '/models', '/responses', '/messages', '/messages/count_tokens'])

/** How much of a client-chosen text (a path, an id) an error message repeats. */
const ECHO_CHARS = 200
/** How much of an error message the request record keeps. */
const MAX_ERROR_MESSAGE = 2000

/** The whole HTTP surface, built from its dependencies; `app.handle(request)` works without a socket. */
export function createApp(deps: Deps, traces = new Traces(deps)) {
  // OpenAPI docs only when asked for (admin.docs): they describe the admin API, no secrets.
  const docs = deps.config().admin.docs
    ? swagger({
        path: '/admin/docs',
        documentation: { info: { title: 'sluice', version: VERSION, description: 'The admin API takes the admin token as a Bearer token.' } },
      })
    : new Elysia({ name: 'no-docs' })
  // Elysia finds the path 11 characters into the URL by default, which with a Host header of three
  // characters or fewer lands inside the path (`http://ab/x/v1/...`). Bun.serve here speaks plain
  // HTTP, so every URL begins `http://` and the path is the first slash after it.
  return new Elysia({ handler: { standardHostname: false } })
    .use(docs)
    .onRequest(({ request }) => {
      const trace = traces.begin(request)
      guardArrival(deps, request, trace.record.path)
    })
    .onError(({ request, error, code }) => {
      const failure = asGatewayError(error, code, request, deps)
      const trace = traces.of(request)
      // The edge decides the shape: Anthropic's on the Messages API, Google's on Gemini's, OpenAI's everywhere else.
      const response = trace.record.path.startsWith('/v1/messages')
        ? renderAnthropicError(failure, trace.record.requestId)
        : isGeminiPath(trace.record.path) ? renderGeminiError(failure) : renderOpenAIError(failure)
      const record = trace.record
      if (trace.capture !== 'none') {
        trace.responseBody = failure.details.body ?? JSON.stringify({ error: { code: failure.code, message: failure.message } })
      }
      response.headers.set('x-request-id', record.requestId)
      if (isCorsPath(record.path)) addCorsHeaders(request, response)
      for (const [name, value] of Object.entries({ ...trace.headers, ...failure.details.headers })) response.headers.set(name, value)
      // Even a failure says where it went and how often it was tried.
      if (record.provider) response.headers.set('x-sluice-provider', record.provider)
      if (record.attempts) response.headers.set('x-sluice-attempts', String(record.attempts))
      traces.of(request).complete({
        status: error instanceof ClientClosed ? 499 : failure.status,
        outcome: error instanceof ClientClosed ? 'client_closed' : 'error',
        errorCode: failure.code,
        errorMessage: clip(failure.details.logMessage ?? failure.message, MAX_ERROR_MESSAGE),
      })
      return response
    })
    .use(corsPreflight(traces))
    .use(healthRoutes(deps, traces))
    .use(openaiRoutes(deps, traces))
    .use(anthropicRoutes(deps, traces))
    .use(geminiRoutes(deps, traces))
    .use(adminRoutes(deps, traces))
    .use(keyRoutes(deps, traces))
    .use(usageRoutes(deps, traces))
    .use(configRoutes(deps, traces))
    .use(accountRoutes(deps, traces))
    .use(playgroundRoutes(deps, traces))
    .use(instanceRoutes(deps, traces))
    .use(dashboardRoutes(deps, traces))
}

/** Elysia's validation error as one line per field: `rpm: Expected integer`. */
function validationMessage(error: unknown): string {
  const all = (error as { all?: Array<{ path?: string; message?: string; summary?: string }> }).all
  if (!Array.isArray(all) || all.length === 0) return 'The request body is not valid.'
  const seen = new Set<string>()
  const lines: string[] = []
  for (const e of all) {
    const path = (e.path ?? '').replace(/^\//, '').replaceAll('/', '.') || '(body)'
    if (seen.has(path)) continue
    seen.add(path)
    lines.push(`${path}: ${e.message ?? e.summary ?? 'invalid'}`)
  }
  return `Invalid request body: ${clip(lines.join('; '), MAX_ERROR_MESSAGE)}`
}

function asGatewayError(error: unknown, code: string | number, request: Request, deps: Deps): GatewayError {
  if (error instanceof GatewayError) return error
  // A parse hook's own refusal (too large, too slow, too deep) arrives wrapped in Elysia's ParseError.
  if (code === 'PARSE' && error instanceof Error && error.cause instanceof GatewayError) return error.cause
  if (error instanceof ClientClosed) return new GatewayError('upstream_error', 'The client closed the request.')
  if (code === 'NOT_FOUND') {
    const path = new URL(request.url).pathname
    // A client configured with the host alone (no /v1) is told what to change.
    const hint = API_PATHS.has(path) ? ` The API is under /v1: ${clip(request.method, 16)} /v1${path}; add /v1 to the client's base URL.` : ' Check the URL for typos.'
    return new GatewayError('not_found', `Unknown request URL: ${clip(request.method, 16)} ${clip(path, ECHO_CHARS)}.${hint}`)
  }
  if (code === 'PARSE') return new GatewayError('invalid_json', 'We could not parse the body of your request.')
  if (code === 'VALIDATION') return new GatewayError('invalid_request', validationMessage(error))
  const refusal = storageRefusal(error)
  if (refusal) return new GatewayError('storage_unavailable', refusal.message, { retryAfterMs: refusal.retryAfterMs })
  deps.logger.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'unexpected error')
  return new GatewayError('upstream_error', 'The gateway failed unexpectedly; the error has been logged.', { status: 500 })
}
