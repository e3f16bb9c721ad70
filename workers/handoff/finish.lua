-- Record a handoff's outcome and count it, in one step (H6, H8).
--
-- Invariant: one outcome per handoff id, counted once. A second finisher (a redelivery
-- racing a slow first attempt) gets the first outcome back and counts nothing. Each AI
-- conversation is counted in exactly one end class, the strongest it reached:
-- resolved < message < failed < routed (a conversation first reported resolved and then
-- handed off moves from `resolved` to `routed`).
--
-- KEYS[1]  the handoff's state hash  `tf:{acme}:handoff:state:<handoff_id>`
-- KEYS[2]  the handoff's lease key   `tf:{acme}:handoff:lease:<handoff_id>`
-- KEYS[3]  the account's outcome counts hash  (field `<status>:<target>`)
-- KEYS[4]  the conversation's end class key
-- KEYS[5]  the account's conversation ends hash (fields resolved, message, failed, routed)
-- ARGV[1]  owner token
-- ARGV[2]  the outcome to store (encoded handoff.results record, or 'resolved')
-- ARGV[3]  mark lifetime, seconds
-- ARGV[4]  outcome counts field, e.g. `created:zendesk`
-- ARGV[5]  end class of the conversation: resolved | message | failed | routed
-- Returns: {1 if recorded now else 0, the stored outcome, ends hash as field, value, ...}

local rank = {resolved = 1, message = 2, failed = 3, routed = 4}
local ttl = tonumber(ARGV[3])
local stored = redis.call('HGET', KEYS[1], 'result')
local fresh = 0
if not stored then
  fresh = 1
  stored = ARGV[2]
  redis.call('HSET', KEYS[1], 'result', stored)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  local class = ARGV[5]
  local previous = redis.call('GET', KEYS[4])
  if not previous then
    redis.call('HINCRBY', KEYS[5], class, 1)
    redis.call('SET', KEYS[4], class, 'EX', ttl)
  elseif rank[previous] < rank[class] then
    redis.call('HINCRBY', KEYS[5], previous, -1)
    redis.call('HINCRBY', KEYS[5], class, 1)
    redis.call('SET', KEYS[4], class, 'EX', ttl)
  end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
local result = {fresh, stored}
for _, v in ipairs(redis.call('HGETALL', KEYS[5])) do
  table.insert(result, v)
end
return result
