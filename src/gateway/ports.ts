/** What the gateway needs from storage, implemented in src/storage and supplied by server.ts. */

export interface DisabledKeyRecord {
  provider: string
  fingerprint: string
  reason: string
  disabledAt: number
}

/** Disabled upstream keys, kept across restarts. */
export interface UpstreamKeyStateStore {
  listDisabled(): Promise<DisabledKeyRecord[]>
  setDisabled(record: DisabledKeyRecord): Promise<void>
  clearDisabled(provider: string, fingerprint: string): Promise<void>
}

/** A response the gateway keeps for a client (see storage's stored_responses). */
export interface StoredResponse {
  id: string
  clientKeyId: string
  createdAt: number
  expiresAt: number
  /** The conversation before the answer, as the client protocol's input items. */
  input: unknown[]
  /** The answer as the client received it. */
  response: Record<string, unknown>
  /** Both already as JSON text, when the saver made it (to check the size bound). */
  serialized?: { input: string; response: string }
}

/** Responses kept for clients whose provider keeps no state. Only the creating client key may read one. */
export interface ResponseStore {
  get(id: string, clientKeyId: string): Promise<StoredResponse | null>
  /** Kept at once for the next request; written to the database in the background. */
  save(response: StoredResponse): void
  delete(id: string, clientKeyId: string): Promise<boolean>
}
