import { Type } from '@sinclair/typebox'
import { randomToken } from '../../lib/crypto.ts'
import { decodeEventStream, encodeEventStream, headerText } from './aws-event-stream.ts'
import { chatCompletion, chatError, chatStream } from './chat-builders.ts'
import { AccountError, KitError } from './errors.ts'
import { pkce } from './pkce.ts'
import { readPath, renderTemplate } from './json-path.ts'
import { decodeNdjson, encodeNdjson } from './ndjson-stream.ts'
import { readBytes, readJson, readText } from './read-body.ts'
import { decodeSse, encodeSse } from './sse-stream.ts'

/** The kit's version: what a module can rely on. Additions keep the number; removals make a new one. */
export const KIT_VERSION = 1

/**
 * Everything an adapter module gets at load time (its default export receives this): schema
 * building for its options, codecs for the framings upstreams use, builders for answers, body
 * readers with bounds, JSON paths and templates, ids. Per-request things (fetch, the account, the
 * key-value store, the logger) come in the context of each call.
 */
export function createKit() {
  return Object.freeze({
    version: KIT_VERSION,
    /** TypeBox's `Type`: `t.Object({ base_url: t.String() })` for the module's options. */
    t: Type,
    sse: { decode: decodeSse, encode: encodeSse },
    ndjson: { decode: decodeNdjson, encode: encodeNdjson },
    eventStream: { decode: decodeEventStream, encode: encodeEventStream, headerText },
    /** Answers in OpenAI's chat-completions shape (for `protocol: 'openai-chat'`). */
    chat: { completion: chatCompletion, stream: chatStream, error: chatError },
    read: { bytes: readBytes, text: readText, json: readJson },
    path: { read: readPath, render: renderTemplate },
    id: (prefix = '') => prefix + randomToken(24),
    /** A PKCE verifier and its S256 challenge, for OAuth authorization-code logins. */
    pkce,
    KitError,
    AccountError,
  })
}

export type AdapterKit = ReturnType<typeof createKit>
