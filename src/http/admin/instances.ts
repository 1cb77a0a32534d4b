import { Elysia } from 'elysia'
import { adminAuth } from '../admin-auth.ts'
import type { Deps } from '../deps.ts'
import type { Traces } from '../traces.ts'

/**
 * The sluice processes sharing this database, from the heartbeats each writes every 5 s: those
 * seen in the last minute (`up`, or `stale` after 15 s of silence), and for ten minutes those gone
 * (stopped, or silent for a minute); this one marked `self`.
 *
 * The live tail (`/admin/api/requests/live`) spans the instances only when they share a Redis:
 * then each row names its `instance`. Without Redis it shows this instance's requests alone, and
 * `/metrics` is always this instance's own (`sluice_instance_info` names it).
 */
export const instanceRoutes = (deps: Deps, traces: Traces) =>
  new Elysia({ name: 'admin-instance-routes', prefix: '/admin/api' })
    .use(adminAuth(deps))
    .get(
      '/instances',
      async ({ request }) => {
        const self = deps.instances?.self ?? null
        const list = (await deps.instances?.list()) ?? []
        const data = list.map((i) => ({ ...i, self: i.id === self }))
        return traces.finish(request, Response.json({ self, shared_live_tail: deps.config().redis !== null, data }))
      },
      { admin: true, detail: { summary: 'The instances sharing this database: each seen in the last minute, and recently gone ones, with uptime and load', tags: ['instances'] } },
    )
