/**
 * Client-chosen text on its way into a log line, an error message or a stored row: kept whole when
 * short, cut to `max` characters (with a marker saying how long it was) otherwise.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text
  return `${text.slice(0, max)}… (${text.length} characters)`
}

/** Whether a string's UTF-8 form is longer than `max` bytes; encodes only when its length cannot tell. */
export function overBytes(text: string, max: number): boolean {
  // Each UTF-16 unit is one to three bytes of UTF-8.
  if (text.length > max) return true
  if (text.length * 3 <= max) return false
  return Buffer.byteLength(text) > max
}
