export interface SingleFlight<K, V> {
  /**
   * `work()`, unless a call for the same key is already running: then that call's promise, so
   * concurrent callers share one execution and its result or error. The key is free again as soon
   * as the work settles, before any caller hears of it, so a caller that retries on an error
   * starts a fresh run.
   */
  run(key: K, work: () => Promise<V>): Promise<V>
  /** How many keys have work running. */
  size(): number
}

/** Collapses concurrent calls per key into one: one token refresh however many requests need it. */
export function singleFlight<K, V>(): SingleFlight<K, V> {
  const running = new Map<K, Promise<V>>()
  return {
    run(key, work) {
      const current = running.get(key)
      if (current) return current
      // Through an async function, so a `work` that throws before its first await still rejects.
      const promise = (async () => work())()
      running.set(key, promise)
      // Registered before any caller can attach, so the key clears first; `then` with both
      // handlers, unlike `finally`, makes no second promise that could reject unhandled.
      const clear = () => {
        if (running.get(key) === promise) running.delete(key)
      }
      promise.then(clear, clear)
      return promise
    },
    size: () => running.size,
  }
}
