import { defineConfig } from 'drizzle-kit'

// The PostgreSQL schema's migrations, apart from SQLite's: `npm run db:generate:pg`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/storage/pg/schema.ts',
  out: './drizzle/pg',
})
