import { createClient, type Client } from '@libsql/client'
import { drizzle, type LibSQLDatabase } from 'drizzle-orm/libsql'
import { migrate } from './migrate.ts'
import * as schema from './schema.ts'

export type Db = LibSQLDatabase<typeof schema>

export interface Database {
  db: Db
  client: Client
  /** The file behind a `file:` URL; null for a libSQL server. */
  filePath: string | null
  /** Cheap liveness check for /health. */
  ping(): Promise<boolean>
  close(): void
}

/** Opens (and creates) the libSQL database and brings its schema up to date. */
export async function openDatabase(url: string, authToken?: string | null): Promise<Database> {
  const client = createClient({ url, authToken: authToken ?? undefined })
  if (url.startsWith('file:')) {
    await client.execute('PRAGMA busy_timeout = 5000')
    // Pruned request-log pages go back to the file system (PRAGMA incremental_vacuum), so the file
    // stops growing once retention applies. Switching an existing file over needs one VACUUM.
    const mode = await client.execute('PRAGMA auto_vacuum')
    if (Number(mode.rows[0]?.[0]) !== 2) {
      await client.execute('PRAGMA auto_vacuum = INCREMENTAL')
      await client.execute('VACUUM')
    }
    // WAL lets the CLI and dashboard read while the server writes; busy_timeout waits out a writer.
    await client.execute('PRAGMA journal_mode = WAL')
    await client.execute('PRAGMA synchronous = NORMAL')
  }
  await migrate(client)
  return {
    db: drizzle(client, { schema }),
    client,
    filePath: url.startsWith('file:') ? url.slice(5).replace(/\?.*$/, '') : null,
    async ping() {
      try {
        await client.execute('SELECT 1')
        return true
      } catch {
        return false
      }
    },
    close: () => client.close(),
  }
}
