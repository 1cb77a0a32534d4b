import { randomToken } from '../lib/crypto.ts'

const COOKIE = 'sluice_session'

/** Dashboard sessions, in memory: a restart logs everyone out, which is the safe default. */
export class Sessions {
  private sessions = new Map<string, number>()

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(): string {
    const id = randomToken(40)
    const now = this.now()
    // Sessions nobody looks up again are only found expired here.
    if (this.sessions.size >= 1000) for (const [old, until] of this.sessions) if (until <= now) this.sessions.delete(old)
    this.sessions.set(id, now + this.ttlMs)
    return id
  }

  valid(id: string | null): boolean {
    if (!id) return false
    const until = this.sessions.get(id)
    if (until === undefined) return false
    if (until <= this.now()) {
      this.sessions.delete(id)
      return false
    }
    return true
  }

  revoke(id: string | null): void {
    if (id) this.sessions.delete(id)
  }

  /** The session id of a request's cookie. */
  static idOf(request: Request): string | null {
    const cookie = request.headers.get('cookie')
    if (!cookie) return null
    for (const part of cookie.split(';')) {
      const [name, ...value] = part.trim().split('=')
      if (name === COOKIE) return value.join('=')
    }
    return null
  }

  cookie(id: string, secure: boolean): string {
    return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(this.ttlMs / 1000)}${secure ? '; Secure' : ''}`
  }

  static clearCookie(): string {
    return `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`
  }
}

/** The header every state-changing dashboard call carries; a cross-site form cannot set it. */
export const CSRF_HEADER = 'x-sluice-csrf'
