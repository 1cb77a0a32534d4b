import { declaredOver, readBounded } from '../../lib/bounded-read.ts'
import { exceedsDepth } from '../../lib/json-depth.ts'
import { KitError } from './errors.ts'

/** How deep parsed JSON may nest; what walks it afterwards recurses (the gateway's own bound). */
export const MAX_JSON_DEPTH = 128

const decoder = new TextDecoder()

/**
 * A response body of at most `maxBytes`, counted after decompression (a small gzip can expand a
 * thousandfold). A declared length over the bound is refused without reading; a body that grows
 * past it is cancelled there.
 */
export async function readBytes(response: Response, maxBytes: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0)
  if (declaredOver(response.headers, maxBytes)) {
    response.body.cancel().catch(() => {})
    throw tooLarge(maxBytes)
  }
  const body = await readBounded(response.body.getReader(), maxBytes)
  if (!body.complete) throw tooLarge(maxBytes)
  return body.bytes
}

/** A response body as UTF-8 text, bounded as `readBytes`. */
export async function readText(response: Response, maxBytes: number): Promise<string> {
  return decoder.decode(await readBytes(response, maxBytes))
}

/** A response body parsed as JSON, bounded as `readBytes` and in depth. */
export async function readJson(response: Response, maxBytes: number): Promise<unknown> {
  return parseJson(await readText(response, maxBytes), 'the response body')
}

/** JSON text parsed, or a `bad_json` error that says what `what` was; depth is bounded. */
export function parseJson(text: string, what: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new KitError('bad_json', `${what} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (exceedsDepth(value, MAX_JSON_DEPTH)) throw new KitError('bad_json', `${what} nests deeper than ${MAX_JSON_DEPTH} levels`)
  return value
}

const tooLarge = (maxBytes: number) => new KitError('too_large', `the response body is larger than ${maxBytes} bytes`)
