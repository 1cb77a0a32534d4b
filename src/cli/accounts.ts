import { readFileSync } from 'node:fs'
import { AccountOpError, accountProvider, importAccount, loginAccount, testAccount, type AccountOps } from '../adapters/account-ops.ts'
import { AdapterModules } from '../adapters/modules.ts'
import type { Config } from '../config/schema.ts'
import { SealError } from '../lib/seal.ts'
import { createLogging } from '../observability/logger.ts'
import { secretKeySource } from '../server/secret-key.ts'
import { createAccountStore } from '../storage/account-store.ts'
import { openDatabase } from '../storage/database.ts'
import { table } from './keys.ts'

type Out = { write(text: string): unknown }

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16))

/**
 * `sluice accounts login|import|list|test|enable|remove`: the accounts of module and flow providers,
 * in the database the server uses (a running server picks changes up within a second). Credentials
 * are sealed with the same key as the server's, never printed.
 */
export async function accountsCommand(config: Config, sub: string, target: string | null, files: string[], label: string | undefined, out: Out, err: Out): Promise<number> {
  const database = await openDatabase(config.database.url, config.database.auth_token, { poolSize: config.database.pool_size })
  try {
    const keySource = secretKeySource(process.env, config.secrets.key_file, database.filePath)
    const sealing = () => {
      const box = keySource.box({ create: true })
      if (!box) throw new SealError(`accounts are sealed with a key, and none is set: set ${keySource.where}`)
      return box
    }
    const { logger } = createLogging({ level: 'warn', destination: { write: (line: string) => void err.write(line) } })
    const ops: AccountOps = { store: createAccountStore(database.db, database.client), sealing, now: Date.now, log: logger }
    const modules = new AdapterModules({ logger, now: Date.now })
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    try {
      switch (sub) {
        case 'list': {
          const rows = (await ops.store.list()).filter((a) => !target || a.provider === target)
          if (rows.length === 0) return void out.write(`no accounts${target ? ` for ${target}` : ''}\n`), 0
          out.write(table([['ID', 'PROVIDER', 'LABEL', 'STATE', 'TOKEN EXPIRES (UTC)', 'UPDATED (UTC)'], ...rows.map((a) => [a.id, a.provider, a.label ?? '-', a.enabled ? 'active' : `disabled: ${a.disabledReason ?? ''}`, when(a.expiresAt), when(a.updatedAt)])]))
          return 0
        }
        case 'import': {
          const provider = accountProvider(config.providers, target!)
          let credentials: unknown
          try {
            credentials = JSON.parse(readFileSync(files[0]!, 'utf8'))
          } catch (e) {
            throw new AccountOpError(`${files[0]}: not a JSON file of credentials (${(e as Error).message.split('\n')[0]})`)
          }
          const account = await importAccount(ops, provider, credentials, label)
          out.write(`stored account ${account.id} for ${provider.name}${account.label ? ` (${account.label})` : ''}\n`)
          return 0
        }
        case 'login': {
          const provider = accountProvider(config.providers, target!)
          const mod = await modules.load(provider)
          const account = await loginAccount(ops, provider, mod, (line) => void out.write(line + '\n'), controller.signal, label)
          out.write(`logged in: stored account ${account.id} for ${provider.name}${account.label ? ` (${account.label})` : ''}\n`)
          return 0
        }
        case 'test': {
          const account = await ops.store.get(target!)
          if (!account) throw new AccountOpError(`no account ${target}`)
          const provider = accountProvider(config.providers, account.provider)
          const result = await testAccount(ops, provider, await modules.load(provider), account, controller.signal)
          out.write(`${account.id}: ok${result.refreshed ? ', refreshed (the new credentials are saved)' : ''}${result.quota ? `\nquota: ${JSON.stringify(result.quota)}` : ''}\n`)
          return 0
        }
        case 'enable':
        case 'remove': {
          const done = sub === 'enable' ? await ops.store.setEnabled(target!, true, null, Date.now()) : await ops.store.remove(target!)
          if (!done) throw new AccountOpError(`no account ${target}`)
          out.write(`${sub === 'enable' ? 'enabled' : 'removed'} account ${target}\n`)
          return 0
        }
      }
      return 2
    } finally {
      process.off('SIGINT', stop)
    }
  } catch (e) {
    if (e instanceof AccountOpError || e instanceof SealError) {
      err.write(`sluice: ${e.message}\n`)
      return 1
    }
    throw e
  } finally {
    database.close()
  }
}
