/**
 * Enforces the connect timeout, which fetch cannot: when an origin has not answered recently (so
 * no pooled connection is likely), a TCP connection is opened beside the request; if it cannot be
 * established in time the upstream is unreachable and the request is aborted. Warm origins cost
 * nothing, and the probe never delays the request itself.
 */
export interface ConnectWatch {
  /** Starts watching; returns a function that stops the watch. */
  watch(url: string, timeoutMs: number, onTimeout: () => void): () => void
  /** Records a response from the origin, which proves it reachable. */
  reachable(url: string): void
}

const WARM_FOR_MS = 30_000

export function createConnectWatch(now: () => number = Date.now): ConnectWatch {
  const lastSeen = new Map<string, number>()
  // Upstream URLs are few and repeat: parse each once.
  const origins = new Map<string, { key: string; hostname: string; port: number }>()
  const originOf = (url: string) => {
    let origin = origins.get(url)
    if (!origin) {
      const u = new URL(url)
      origin = { key: u.origin, hostname: u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) }
      if (origins.size > 1000) origins.clear()
      origins.set(url, origin)
    }
    return origin
  }
  return {
    reachable(url) {
      lastSeen.set(originOf(url).key, now())
    },
    watch(url, timeoutMs, onTimeout) {
      const origin = originOf(url)
      const seen = lastSeen.get(origin.key)
      if (seen !== undefined && now() - seen < WARM_FOR_MS) return () => {}
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        onTimeout()
      }, timeoutMs)
      const settle = () => {
        settled = true
        clearTimeout(timer)
      }
      Bun.connect({
        hostname: origin.hostname.replace(/^\[|\]$/g, ''),
        port: origin.port,
        socket: {
          open(socket) {
            if (!settled) lastSeen.set(origin.key, now())
            settle()
            socket.end()
          },
          data() {},
          error() {},
          connectError() {
            // Refused or unresolvable: fetch reports that itself, with a better message.
            settle()
          },
        },
      }).catch(settle)
      return settle
    },
  }
}
