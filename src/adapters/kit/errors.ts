/**
 * What can go wrong inside the adapter kit. The code is stable (an integrator maps it to a gateway
 * error); the message is for people and names what was refused and why.
 */
export type KitErrorCode =
  /** The address is private, loopback, link-local or a cloud metadata endpoint. */
  | 'blocked_address'
  /** Not an absolute http(s) URL. */
  | 'bad_url'
  /** The name did not resolve (or not within the connect timeout). */
  | 'dns_failed'
  /** The whole exchange, body included, outlasted its timeout. */
  | 'timeout'
  /** Resolving the name and opening the connection outlasted the connect timeout. */
  | 'connect_timeout'
  /** The caller's signal cancelled the call. */
  | 'aborted'
  /** A body, event, line or message is larger than its bound. */
  | 'too_large'
  /** Text that should be JSON is not (or nests too deep). */
  | 'bad_json'
  /** A binary frame is malformed: impossible lengths, an unknown header type, a truncated end. */
  | 'bad_frame'
  /** A frame's CRC32 does not match its bytes. */
  | 'bad_checksum'
  /** A path expression that cannot be parsed. */
  | 'bad_path'
  /** A template names a variable that has no value. */
  | 'missing_variable'
  /** A template variable whose value is not text, a number or a boolean. */
  | 'bad_template'

export class KitError extends Error {
  override readonly name = 'KitError'

  constructor(
    readonly code: KitErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/**
 * A refresh or login the upstream refused: `permanent` (an `invalid_grant`, a revoked consent)
 * disables the account with this message as the reason; otherwise the account cools down and is
 * tried again later.
 */
export class AccountError extends Error {
  readonly permanent: boolean
  constructor(message: string, options: { permanent?: boolean } = {}) {
    super(message)
    this.permanent = options.permanent ?? false
  }
}
