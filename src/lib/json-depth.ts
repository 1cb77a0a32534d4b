/**
 * Whether a parsed JSON value nests deeper than `max` arrays and objects. Iterative, so a hostile
 * document cannot overflow the stack here; it runs before anything recursive (JSON.stringify,
 * hashing, translation, schema validation) sees the value. Costs one step per array or object, not
 * per byte: a 100 KB chat body has a few hundred.
 */
export function exceedsDepth(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false
  const stack: object[] = [value as object]
  const depths: number[] = [1]
  while (stack.length > 0) {
    const node = stack.pop()!
    const depth = depths.pop()!
    if (depth > max) return true
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i]
        if (child !== null && typeof child === 'object') {
          stack.push(child)
          depths.push(depth + 1)
        }
      }
    } else {
      for (const k in node) {
        const child: unknown = (node as Record<string, unknown>)[k]
        if (child !== null && typeof child === 'object') {
          stack.push(child)
          depths.push(depth + 1)
        }
      }
    }
  }
  return false
}
