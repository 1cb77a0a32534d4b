import { createHash } from 'node:crypto'
import type { SQL } from 'bun'
import { journal, migrationSql } from './migrations.ts'

// drizzle's own bookkeeping, where drizzle-kit looks for it, so both agree on what has run.
const TABLE = 'drizzle.__drizzle_migrations'

/**
 * Applies the embedded drizzle-kit migrations in one transaction that first takes an advisory lock:
 * instances starting together queue on the lock, one migrates, and the others find nothing left to
 * do. The transaction-scoped lock cannot outlive a failed start (a session lock could, on a pooled
 * connection). Returns how many migrations it applied.
 */
export async function migratePostgres(sql: SQL): Promise<number> {
  return sql.begin(async (tx) => {
    // Waiting for another instance's migration is expected here, not a lock to give up on quickly.
    await tx.unsafe(`SET LOCAL lock_timeout = '300s'`)
    await tx.unsafe(`SELECT pg_advisory_xact_lock(hashtext('sluice migrations'))`)
    await tx.unsafe('CREATE SCHEMA IF NOT EXISTS drizzle')
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`)
    const [last] = await tx.unsafe(`SELECT created_at FROM ${TABLE} ORDER BY created_at DESC LIMIT 1`)
    const lastApplied = last ? Number(last.created_at) : -Infinity
    let applied = 0
    for (const entry of journal.entries) {
      if (entry.when <= lastApplied) continue
      const text = migrationSql[entry.tag]
      if (text === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded`)
      for (const statement of text.split('--> statement-breakpoint').map((s) => s.trim()).filter(Boolean)) await tx.unsafe(statement)
      await tx.unsafe(`INSERT INTO ${TABLE} (hash, created_at) VALUES ($1, $2)`, [createHash('sha256').update(text).digest('hex'), entry.when])
      applied++
    }
    return applied
  })
}
