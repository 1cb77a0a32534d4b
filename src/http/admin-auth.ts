import { Elysia } from 'elysia'
import { GatewayError } from '../gateway/errors.ts'
import { constantTimeEqual, sha256Hex } from '../lib/crypto.ts'
import type { Deps } from './deps.ts'

/** `admin: true` on a route requires `Authorization: Bearer <admin token>`. */
export const adminAuth = (deps: Deps) =>
  new Elysia({ name: 'admin-auth' }).macro('admin', {
    // transform runs before body validation, so a caller without the token learns nothing more.
    transform({ request }) {
      const match = /^Bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '')
      // Compare hashes in constant time: the stored value is a hash, and so is what we compare.
      if (!match || !constantTimeEqual(sha256Hex(match[1]!.trim()), deps.adminTokenHash())) {
        throw new GatewayError('invalid_api_key', 'This route needs the admin token as a Bearer token.')
      }
    },
  })
