-- Apply one presence record of an agent (R3), so that the online set follows the agent's
-- newest explicit status whatever order the records come in and however often they repeat.
--
-- Invariants: `<base>:online` scores each online agent by its last sign of life (scores
-- only grow); `<base>:offline` holds the time of an agent's explicit offline or logout
-- while that is its newest explicit status. Explicit statuses apply in log order (one
-- agent's records share a partition). A heartbeat at time t says the agent was online at t:
-- it (re)adds the agent, so heartbeats bring back agents whose records Redis lost, unless
-- the agent went offline at t or later, so a late or replayed heartbeat never undoes a logout.
--
-- Offline reassignment (R15, workers/router/offline.lua fires it): `<base>:offline_due`
-- scores an agent by when their waiting tickets go back to the queue: their offline time
-- plus the delay; with a presence timeout, an online agent's last sign of life plus the
-- timeout plus the delay (they count offline `timeout` after it). Without the setting, or
-- online with no timeout, the agent is not in it.
--
-- KEYS[1]  the account's online sorted set   KEYS[2]  the account's offline hash
-- KEYS[3]  the account's offline_due sorted set
-- ARGV[1]  agent id   ARGV[2] status: online | heartbeat | offline | logout
-- ARGV[3]  the record's time, epoch seconds
-- ARGV[4]  reassign_offline_after_seconds, or '' (off)   ARGV[5] presence timeout (s) or ''
-- Returns: 'stale' for a heartbeat an offline at or after its time wins over (nothing
--          changed), else 'ok'.

local online_key, offline_key, due_key = KEYS[1], KEYS[2], KEYS[3]
local agent, status, at = ARGV[1], ARGV[2], tonumber(ARGV[3])
local delay, timeout = tonumber(ARGV[4]), tonumber(ARGV[5])

if status == 'offline' or status == 'logout' then
  redis.call('ZREM', online_key, agent)
  local since = tonumber(redis.call('HGET', offline_key, agent))
  if not since or since < at then
    redis.call('HSET', offline_key, agent, ARGV[3])
    since = at
  end
  if delay then
    redis.call('ZADD', due_key, since + delay, agent)
  else
    redis.call('ZREM', due_key, agent)
  end
  return 'ok'
end

if status == 'online' then
  redis.call('HDEL', offline_key, agent)
else
  local since = tonumber(redis.call('HGET', offline_key, agent))
  if since and since >= at then return 'stale' end
end
redis.call('ZADD', online_key, 'GT', at, agent)
if delay and timeout then
  local seen = tonumber(redis.call('ZSCORE', online_key, agent))
  redis.call('ZADD', due_key, seen + timeout + delay, agent)
else
  redis.call('ZREM', due_key, agent)
end
return 'ok'
