/**
 * The limit checks as Lua scripts, so that each check-and-reserve is one round trip and atomic
 * across every gateway sharing the Redis. They read time from Redis (`TIME`), never from the
 * caller: instances whose clocks disagree still share one timeline. Redis 5 or later is needed
 * (scripts that write after `TIME` rely on effects replication).
 *
 * Every script that admits (take, acquire, reserve) gets a deadline in Redis's clock: a script
 * that runs after it applies nothing and answers `late`. A command can reach Redis after its
 * caller stopped waiting (a paused server, a full socket buffer); without the deadline it would
 * still count a request that was never let through.
 *
 * Numbers travel as strings: Redis turns a Lua number in a reply into an integer, and GCRA's
 * theoretical arrival times have fractions. `%.17g` keeps every bit of a double.
 *
 * Quota usage is a hash per key and period: `requests`, `tokens` and `cost` in nano-USD, so that
 * sums are exact integers. A generation marker says which seed the counters come from (see
 * usage-ledger.ts); while it is missing (Redis came back empty) nothing is counted in Redis, until
 * one instance, holding the seeding lock, has set the current periods from the database.
 */
import { defineScript, type LuaScript } from './client.ts'

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function num(x) return string.format('%.17g', x) end
local function int(x) return string.format('%.0f', x) end
`

/** KEYS: bucket. ARGV: cost, limit, periodMs, deadline. Answers {verdict, tat before, now}. */
export const GCRA_TAKE = defineScript('gcra-take', `${NOW}
if now > tonumber(ARGV[4]) then return {'late'} end
local cost, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = stored and tonumber(stored) or now
local base = math.max(tat, now)
local nxt = base + cost * (period / limit)
-- A cost larger than the whole limit still passes from an idle bucket, or it could never pass.
local allowed = nxt - now <= period or base == now
if allowed then redis.call('SET', KEYS[1], num(nxt), 'PX', math.ceil(nxt - now) + 1) end
return {allowed and 'ok' or 'denied', num(tat), num(now)}
`)

/** KEYS: bucket. ARGV: delta (negative gives back), limit, periodMs. A settle: no deadline. */
export const GCRA_ADJUST = defineScript('gcra-adjust', `${NOW}
local delta, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = stored and tonumber(stored) or now
local nxt = math.max(math.max(tat, now) + (delta * period) / limit, now)
-- A bucket at now is full, the same as no bucket.
if nxt > now then redis.call('SET', KEYS[1], num(nxt), 'PX', math.ceil(nxt - now) + 1) else redis.call('DEL', KEYS[1]) end
return {'ok'}
`)

/**
 * KEYS: slot set. ARGV: max, lease id, leaseMs, deadline. A sorted set of leases scored by their
 * expiry: a lease its instance stopped renewing (crashed, cut off) ends by itself.
 */
export const SLOT_ACQUIRE = defineScript('slot-acquire', `${NOW}
if now > tonumber(ARGV[4]) then return {'late'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {'denied'} end
redis.call('ZADD', KEYS[1], num(now + tonumber(ARGV[3])), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'ok'}
`)

/**
 * KEYS: one slot set per lease. ARGV: leaseMs, then the lease ids. Re-adds a lease that is gone,
 * so that a Redis that restarted empty counts the requests still running again.
 */
export const SLOT_RENEW = defineScript('slot-renew', `${NOW}
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, num(now + lease), ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return {'ok'}
`)

/**
 * KEYS: period hash, generation marker. ARGV: tokens, cost (nano-USD), request limit, token
 * limit, budget (nano-USD), expire at (ms), deadline; an empty limit is no limit. Answers
 * {verdict, generation}: `ok`, `late`, `unseeded` (Redis lost its counters and nobody has reseeded
 * them yet: nothing is counted), or the quota that refused. The budget admits while spent and
 * reserved is below it.
 */
export const QUOTA_RESERVE = defineScript('quota-reserve', `${NOW}
local gen = redis.call('GET', KEYS[2])
if not gen then return {'unseeded'} end
if now > tonumber(ARGV[7]) then return {'late'} end
local u = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'cost')
local requests, tokens, cost = tonumber(u[1]) or 0, tonumber(u[2]) or 0, tonumber(u[3]) or 0
if ARGV[3] ~= '' and requests + 1 > tonumber(ARGV[3]) then return {'requests', gen} end
if ARGV[4] ~= '' and tokens + tonumber(ARGV[1]) > tonumber(ARGV[4]) then return {'tokens', gen} end
if ARGV[5] ~= '' and cost >= tonumber(ARGV[5]) then return {'budget', gen} end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'cost', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return {'ok', gen}
`)

/**
 * KEYS: period hash, generation marker. ARGV: requests, tokens, cost (nano-USD) deltas, expire at,
 * and the generation it is meant for ('' for any). Answers {`ok`, generation}, `unseeded`, or
 * `moved` (Redis has another generation than the one meant: nothing applied).
 */
export const QUOTA_SETTLE = defineScript('quota-settle', `
local gen = redis.call('GET', KEYS[2])
if not gen then return {'unseeded'} end
if ARGV[5] ~= '' and gen ~= ARGV[5] then return {'moved', gen} end
local u = redis.call('HMGET', KEYS[1], 'tokens', 'cost')
local function int(x) return string.format('%.0f', x) end
redis.call('HINCRBY', KEYS[1], 'requests', ARGV[1])
-- Tokens and cost never go below nothing, as in the single-process store.
redis.call('HSET', KEYS[1], 'tokens', int(math.max(0, (tonumber(u[1]) or 0) + tonumber(ARGV[2]))), 'cost', int(math.max(0, (tonumber(u[2]) or 0) + tonumber(ARGV[3]))))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {'ok', gen}
`)

/** KEYS: period hash, generation marker. Answers {`ok`, requests, tokens, cost} or `unseeded`. */
export const QUOTA_READ = defineScript('quota-read', `
if not redis.call('GET', KEYS[2]) then return {'unseeded'} end
local u = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'cost')
return {'ok', u[1] or '0', u[2] or '0', u[3] or '0'}
`)

/**
 * KEYS: period hash, seeding lock. ARGV: lock token, requests, tokens, cost (nano-USD) from the
 * database, expire at. Sets the period's usage, as long as the caller still holds the lock.
 * Answers 1 when it applied.
 */
export const QUOTA_SEED = defineScript('quota-seed', `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'requests', ARGV[2], 'tokens', ARGV[3], 'cost', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
`)

/**
 * KEYS: generation marker, seeding lock. ARGV: lock token, lock ms. Takes the lock only while
 * there is no generation, so that an instance that saw none a moment ago never seeds a Redis
 * another instance has just seeded. Answers {`seeding`}, {`seeded`, generation} or {`locked`}.
 */
export const SEED_CLAIM = defineScript('seed-claim', `
local gen = redis.call('GET', KEYS[1])
if gen then return {'seeded', gen} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'seeding'} end
return {'locked'}
`)

/** KEYS: generation marker, seeding lock. ARGV: lock token, generation. Ends a seed: counting starts. */
export const SEED_FINISH = defineScript('seed-finish', `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
`)

/** KEYS: seeding lock. ARGV: lock token. Gives up a seed that failed, so that the next try need not wait for the lock to run out. */
export const SEED_ABANDON = defineScript('seed-abandon', `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

export const LIMIT_SCRIPTS: LuaScript[] = [GCRA_TAKE, GCRA_ADJUST, SLOT_ACQUIRE, SLOT_RENEW, QUOTA_RESERVE, QUOTA_SETTLE, QUOTA_READ, QUOTA_SEED, SEED_CLAIM, SEED_FINISH, SEED_ABANDON]
