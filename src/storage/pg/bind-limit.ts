/** PostgreSQL's wire protocol counts a statement's parameters in 16 bits. */
export const MAX_PARAMETERS = 65_535

/** `rows` cut into groups that fit one statement each, at `columns` parameters a row. */
export function statementChunks<T>(rows: readonly T[], columns: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / columns))
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}
