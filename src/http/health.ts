import { Elysia } from 'elysia'
import type { Deps } from './deps.ts'
import type { Traces } from './traces.ts'

/**
 * Public health: no secrets, no upstream calls. `/health` is the full report (503 while the database
 * is unreachable or the server is draining; 200 with status "degraded" and the SQLite error while
 * writes fail, since requests are still served and the writes wait in their queues);
 * `/healthz` only says the process answers (liveness); `/readyz` is `/health`'s verdict without the
 * report (readiness).
 */
export const healthRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'health-routes' })
    .get('/health', async ({ request }) => {
      const report = await deps.health()
      return traces.finish(request, Response.json(report.body, { status: report.ok ? 200 : 503 }))
    })
    .get('/healthz', ({ request }) => traces.finish(request, Response.json({ status: 'ok' })))
    .get('/readyz', async ({ request }) => {
      const report = await deps.health()
      return traces.finish(request, Response.json({ status: report.body.status }, { status: report.ok ? 200 : 503 }))
    })
