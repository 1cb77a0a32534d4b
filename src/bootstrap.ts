import type { Config } from './config/schema.ts'
import { OPEN_POLICY } from './gateway/access/client-keys.ts'
import { randomToken, sha256Hex } from './lib/crypto.ts'
import type { ClientKeyStore } from './storage/client-key-store.ts'
import type { SettingsStore } from './storage/settings-store.ts'

export const ADMIN_TOKEN_SETTING = 'admin_token_sha256'

export interface BootstrapResult {
  /** Hash of the admin token in force. */
  adminTokenHash: string
  /** Secrets created on this start, to be shown once and never again. */
  created: { adminToken?: string; clientKey?: string }
}

/**
 * First start: with no admin token configured, one is generated and only its hash stored; with
 * auth on and no client key anywhere, a first key is created, so a newcomer can make a request.
 */
export async function bootstrapSecrets(config: Config, settings: SettingsStore, keys: ClientKeyStore): Promise<BootstrapResult> {
  const created: BootstrapResult['created'] = {}
  let adminTokenHash: string
  if (config.admin.token) {
    adminTokenHash = sha256Hex(config.admin.token)
  } else {
    const stored = await settings.get(ADMIN_TOKEN_SETTING)
    if (stored) {
      adminTokenHash = stored
    } else {
      const token = 'sluice-admin-' + randomToken(40)
      // Instances starting together on one shared database: the first token stored is the one, and
      // only the instance that stored it shows it.
      adminTokenHash = await settings.claim(ADMIN_TOKEN_SETTING, sha256Hex(token))
      if (adminTokenHash === sha256Hex(token)) created.adminToken = token
    }
  }
  if (config.auth.required && config.auth.keys.length === 0 && (await keys.count()) === 0) {
    created.clientKey = (await keys.create({ name: 'default', policy: OPEN_POLICY })).secret
  }
  return { adminTokenHash, created }
}
