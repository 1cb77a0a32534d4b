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
