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
 * sums are exact integers. When Redis comes back empty, the current periods are reseeded from the
 * database. A hash that requests created before that (while the `seeded` marker is missing) is
 * flagged `unseeded`, so that the reseed adds the checkpoint to it rather than leave it alone.
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

// Creating a period hash before anyone reseeded marks it, so a later reseed adds the checkpoint.
const TOUCH = `
local function touch(key, marker, expire_at)
  if redis.call('EXISTS', key) == 0 and redis.call('EXISTS', marker) == 0 then redis.call('HSET', key, 'unseeded', 1) end
  redis.call('PEXPIREAT', key, expire_at)
end
`

/**
 * KEYS: period hash, seeded marker. ARGV: tokens, cost (nano-USD), request limit, token limit,
 * budget (nano-USD), expire at (ms), deadline; an empty limit is no limit. Answers {verdict}:
 * `ok`, `late`, or the quota that refused. The budget admits while spent and reserved is below it.
 */
export const QUOTA_RESERVE = defineScript('quota-reserve', `${NOW}${TOUCH}
if now > tonumber(ARGV[7]) then return {'late'} end
local u = redis.call('HMGET', KEYS[1], 'requests', 'tokens', 'cost')
local requests, tokens, cost = tonumber(u[1]) or 0, tonumber(u[2]) or 0, tonumber(u[3]) or 0
if ARGV[3] ~= '' and requests + 1 > tonumber(ARGV[3]) then return {'requests'} end
if ARGV[4] ~= '' and tokens + tonumber(ARGV[1]) > tonumber(ARGV[4]) then return {'tokens'} end
if ARGV[5] ~= '' and cost >= tonumber(ARGV[5]) then return {'budget'} end
touch(KEYS[1], KEYS[2], ARGV[6])
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'cost', ARGV[2])
return {'ok'}
`)

/** KEYS: period hash, seeded marker. ARGV: requests, tokens, cost (nano-USD) deltas, expire at. */
export const QUOTA_SETTLE = defineScript('quota-settle', `${NOW}${TOUCH}
local u = redis.call('HMGET', KEYS[1], 'tokens', 'cost')
touch(KEYS[1], KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[1], 'requests', ARGV[1])
-- Tokens and cost never go below nothing, as in the single-process store.
redis.call('HSET', KEYS[1], 'tokens', int(math.max(0, (tonumber(u[1]) or 0) + tonumber(ARGV[2]))), 'cost', int(math.max(0, (tonumber(u[2]) or 0) + tonumber(ARGV[3]))))
return {'ok'}
`)

/**
 * KEYS: period hash. ARGV: requests, tokens, cost (nano-USD) from the database, expire at.
 * Fills a hash that is absent, or adds to one created since Redis came back empty; any other
 * hash is live and left alone. Answers 1 when it applied.
 */
export const QUOTA_RESEED = defineScript('quota-reseed', `
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HEXISTS', KEYS[1], 'unseeded') == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'requests', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'cost', ARGV[3])
redis.call('HDEL', KEYS[1], 'unseeded')
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`)

export const LIMIT_SCRIPTS: LuaScript[] = [GCRA_TAKE, GCRA_ADJUST, SLOT_ACQUIRE, SLOT_RENEW, QUOTA_RESERVE, QUOTA_SETTLE, QUOTA_RESEED]
