import { expect, test } from 'bun:test'
import { getTableConfig as pgConfig } from 'drizzle-orm/pg-core'
import { getTableConfig as sqliteConfig } from 'drizzle-orm/sqlite-core'
import * as pg from '../../src/storage/pg/schema.ts'
import * as sqlite from '../../src/storage/schema.ts'

// The stores map rows once for both engines: every table's row types must be the same in both
// schemas. Checked by the compiler (a mismatch fails typecheck) and, for names, at run time.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Rows<T extends keyof typeof sqlite & keyof typeof pg, K extends '$inferSelect' | '$inferInsert'> =
  (typeof sqlite)[T] extends { [k in K]: infer A } ? ((typeof pg)[T] extends { [k in K]: infer B } ? Same<A, B> : false) : false
const TABLES = ['settings', 'clientKeys', 'clientKeyUsage', 'disabledUpstreamKeys', 'requestLog', 'usageDaily', 'usageHourly', 'storedResponses', 'managedEntries', 'accounts', 'adapterKv', 'instances'] as const
type Table = (typeof TABLES)[number]
const sameRows: { [T in Table]: [Rows<T, '$inferSelect'>, Rows<T, '$inferInsert'>] } = {
  settings: [true, true],
  clientKeys: [true, true],
  clientKeyUsage: [true, true],
  disabledUpstreamKeys: [true, true],
  requestLog: [true, true],
  usageDaily: [true, true],
  // SQLite makes an INTEGER PRIMARY KEY optional on insert (it is the rowid); the hour is always given.
  usageHourly: [true, false],
  storedResponses: [true, true],
  managedEntries: [true, true],
  accounts: [true, true],
  adapterKv: [true, true],
  instances: [true, true],
}

test('the PostgreSQL schema mirrors every SQLite table, column for column', () => {
  expect(Object.keys(sameRows).sort()).toEqual([...TABLES].sort())
  for (const t of TABLES) {
    const a = sqliteConfig(sqlite[t])
    const b = pgConfig(pg[t])
    expect(b.name).toBe(a.name)
    expect(b.columns.map((c) => c.name).sort()).toEqual(a.columns.map((c) => c.name).sort())
    const keyOf = (cols: { name: string }[]) => cols.map((c) => c.name)
    expect(b.primaryKeys.map((k) => keyOf(k.columns))).toEqual(a.primaryKeys.map((k) => keyOf(k.columns)))
    expect(b.indexes.map((i) => i.config.name).sort()).toEqual(a.indexes.map((i) => i.config.name).sort())
  }
})
