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
-- KEYS[1]  the account's online sorted set   KEYS[2]  the account's offline hash
-- ARGV[1]  agent id   ARGV[2] status: online | heartbeat | offline | logout
-- ARGV[3]  the record's time, epoch seconds
-- Returns: 'stale' for a heartbeat an offline at or after its time wins over (nothing
--          changed), else 'ok'.

local online_key, offline_key = KEYS[1], KEYS[2]
local agent, status, at = ARGV[1], ARGV[2], tonumber(ARGV[3])

if status == 'offline' or status == 'logout' then
  redis.call('ZREM', online_key, agent)
  local since = tonumber(redis.call('HGET', offline_key, agent))
  if not since or since < at then redis.call('HSET', offline_key, agent, ARGV[3]) end
  return 'ok'
end

if status == 'online' then
  redis.call('HDEL', offline_key, agent)
else
  local since = tonumber(redis.call('HGET', offline_key, agent))
  if since and since >= at then return 'stale' end
end
redis.call('ZADD', online_key, 'GT', at, agent)
return 'ok'
