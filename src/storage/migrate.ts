import { createHash } from 'node:crypto'
import type { Client } from '@libsql/client'
import { journal, migrationSql } from './migrations.ts'

const TABLE = '__drizzle_migrations'

/**
 * Applies the embedded drizzle-kit migrations, keeping drizzle's own bookkeeping table so that
 * drizzle-kit and this function agree on what has run. Each pending migration runs in one batch.
 */
export async function migrate(client: Client): Promise<number> {
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)`,
  )
  const last = await client.execute(`SELECT created_at FROM ${TABLE} ORDER BY created_at DESC LIMIT 1`)
  const lastApplied = last.rows[0] ? Number(last.rows[0][0]) : -Infinity
  let applied = 0
  for (const entry of journal.entries) {
    if (entry.when <= lastApplied) continue
    const sql = migrationSql[entry.tag]
    if (sql === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded`)
    const statements = sql.split('--> statement-breakpoint').map((s) => s.trim()).filter(Boolean)
    const hash = createHash('sha256').update(sql).digest('hex')
    await client.batch(
      [...statements, { sql: `INSERT INTO ${TABLE} (hash, created_at) VALUES (?, ?)`, args: [hash, entry.when] }],
      'write',
    )
    applied++
  }
  return applied
}
