/** Hands out a provider's upstream keys in turn, so a pool of N keys carries N keys' limits. */
export class KeyPool {
  private next = 0

  constructor(readonly keys: readonly string[]) {}

  take(): string {
    const key = this.keys[this.next % this.keys.length]!
    this.next = (this.next + 1) % this.keys.length
    return key
  }

  get usable(): number {
    return this.keys.length
  }
}
