-- Claim one handoff before calling a helpdesk (H6, X1).
--
-- Invariant: at most one replica works on a handoff at a time, and once an outcome is
-- recorded nobody works on it again. The lease expires on its own when its owner dies
-- (SIGKILL), so a redelivery to another replica can take over after at most one lease.
--
-- KEYS[1]  the handoff's state hash  `tf:{acme}:handoff:state:<handoff_id>`
-- KEYS[2]  the handoff's lease key   `tf:{acme}:handoff:lease:<handoff_id>`
-- ARGV[1]  owner token of this replica
-- ARGV[2]  lease lifetime, milliseconds
-- Returns: {'done', <stored result>}   an outcome exists: re-publish it, call nothing
--          {'busy', <lease ms left>}   another live replica holds the lease
--          {'claimed', <posts>}        ours; <posts> create calls were already started
--                                      for this handoff, so look the ticket up first if > 0

local result = redis.call('HGET', KEYS[1], 'result')
if result then
  return {'done', result}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then
  return {'busy', tostring(redis.call('PTTL', KEYS[2]))}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]))
local posts = redis.call('HGET', KEYS[1], 'posts') or '0'
return {'claimed', posts}
