import { Elysia } from 'elysia'
import type { Deps } from './deps.ts'
import type { Traces } from './traces.ts'

/** Public health: no secrets, no upstream calls; 503 while the database is unreachable or shutting down. */
export const healthRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'health-routes' }).get('/health', async ({ request }) => {
    const report = await deps.health()
    return traces.finish(request, Response.json(report.body, { status: report.ok ? 200 : 503 }))
  })
