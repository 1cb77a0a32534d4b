/** Model ids from a `{ data: [{ id }] }` list, the shape both OpenAI and Anthropic use. */
export function idsFromDataList(body: unknown): string[] {
  const data = (body as { data?: unknown })?.data
  if (!Array.isArray(data)) return []
  return data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string')
}
