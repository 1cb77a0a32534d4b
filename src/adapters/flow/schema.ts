import { Type as T, type Static } from '@sinclair/typebox'

/**
 * The declarative flow of a `type: flow` provider: steps before the chat request, templated URLs,
 * headers and bodies, a token endpoint, and how the answer maps onto chat deltas. Templates use
 * `{name}`: `{base_url}`, `{model}`, `{credential}` (the pool member: a key from `keys`), `{token}`
 * (from `token`), `{prompt}`, `{last_user}`, `{messages}`, `{stream}`, and whatever a step took.
 */
const strict = { additionalProperties: false } as const
const Path = T.String({ minLength: 1, description: 'a JSON path such as data.id or choices[0].delta.content' })
const Template = T.String({ minLength: 1 })
const Method = T.Union(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => T.Literal(m)))

const Call = {
  url: Template,
  method: T.Optional(Method),
  headers: T.Optional(T.Record(T.String(), T.String())),
  /** A JSON body; a string that is exactly `{name}` becomes that value as it is (an array, a number). */
  body: T.Optional(T.Unknown()),
}

export const FlowSchema = T.Object(
  {
    base_url: T.String({ pattern: '^https?://', description: 'an http(s) URL' }),
    /** Headers of every call (steps, token, request): `authorization: Bearer {token}`. */
    headers: T.Optional(T.Record(T.String(), T.String())),
    /** Trades the pool member for a short-lived token, cached per account and refreshed before it expires. */
    token: T.Optional(
      T.Object(
        {
          ...Call,
          /** Where the token is in the JSON answer. */
          value: Path,
          /** Where its lifetime in seconds is; or `ttl_s` when the answer does not say. */
          expires_in: T.Optional(Path),
          ttl_s: T.Optional(T.Integer({ minimum: 1 })),
          refresh_before_s: T.Optional(T.Integer({ minimum: 0 })),
          /**
           * Where a rotated long-lived credential is in the answer (a new refresh token): saved to a
           * stored account before the new token is used. Keys from the config file cannot rotate.
           */
          rotate: T.Optional(Path),
        },
        strict,
      ),
    ),
    /** Calls made before the chat request, in order; each takes values from its JSON answer. */
    before: T.Optional(
      T.Array(
        T.Object(
          {
            name: T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
            ...Call,
            /** name: path — values taken from the answer for the later templates. */
            take: T.Record(T.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Path),
            /** Keep what was taken: not at all, per account, or per conversation (its first messages). */
            cache: T.Optional(T.Union([T.Literal('none'), T.Literal('account'), T.Literal('conversation')])),
            ttl_s: T.Optional(T.Integer({ minimum: 1 })),
          },
          strict,
        ),
      ),
    ),
    request: T.Object(Call, strict),
    answer: T.Object(
      {
        format: T.Union([T.Literal('sse'), T.Literal('ndjson'), T.Literal('json')]),
        /** The text of each event (sse, ndjson) or of the answer (json). */
        text: Path,
        /** Whether each event carries the new text (`delta`) or all the text so far (`cumulative`). */
        text_mode: T.Optional(T.Union([T.Literal('delta'), T.Literal('cumulative')])),
        /** The event data that ends a stream (`[DONE]`). */
        done: T.Optional(T.String()),
        finish: T.Optional(Path),
        /** Upstream finish reasons to chat ones: `{ max_tokens: length }`. */
        finish_map: T.Optional(T.Record(T.String(), T.Union(['stop', 'length', 'tool_calls', 'content_filter'].map((f) => T.Literal(f))))),
        prompt_tokens: T.Optional(Path),
        completion_tokens: T.Optional(Path),
        /** The most bytes one event (or the JSON answer) may have. */
        max_bytes: T.Optional(T.Integer({ minimum: 1024 })),
      },
      strict,
    ),
  },
  strict,
)
export type Flow = Static<typeof FlowSchema>
