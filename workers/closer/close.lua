-- Claim a due countdown and close its ticket, in one atomic step (C4, C6).
--
-- Invariant: a countdown closes its ticket at most once. The countdown must still be
-- exactly what the closer decided on (compare-and-set on its stored form) and the ticket
-- must still be at the countdown's activity version and open or snoozed; the countdown
-- is consumed in the same step. Its close then waits in `:closing` (score: lease expiry)
-- until the events are published, so a replica that dies before publishing leaves the
-- close for another replica to re-publish with the very same ids and time.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`;
--          keys used: :ticket:<id>, :countdowns, :timers, :closing, :status:<s>,
--          :retention (closed tickets by close time, workers/closer/purge.lua)
-- ARGV[1]  ticket id
-- ARGV[2]  the countdown as read when deciding (stored form)
-- ARGV[3]  close instant, epoch seconds
-- ARGV[4]  close instant, RFC 3339 (kept on the ticket, which stays readable)
-- ARGV[5]  lease expiry, epoch seconds: when the close is re-published if unacknowledged
-- Returns: the `:closing` member `<ticket id> <version> <previous status> <closed epoch s>`,
--          or false when anything changed since the decision

local base, ticket_id = KEYS[1], ARGV[1]
local countdown = redis.call('HGET', base .. ':countdowns', ticket_id)
if countdown ~= ARGV[2] then return false end
local version = tonumber(string.match(countdown, '^(%d+)'))
local key = base .. ':ticket:' .. ticket_id
local ticket = redis.call('HMGET', key, 'version', 'status', 'number')
local previous = ticket[2]
if tonumber(ticket[1]) ~= version or (previous ~= 'open' and previous ~= 'snoozed') then
  return false
end
-- The ticket stays in exactly one status view (prelude workers/state/lua/status_view.lua).
move_status_view(base, ticket_id, previous, 'closed', ticket[3])
redis.call('HSET', key, 'closed_at', ARGV[4], 'closed_reason', 'inactivity')
redis.call('HDEL', base .. ':countdowns', ticket_id)
redis.call('ZREM', base .. ':timers', ticket_id)
redis.call('ZADD', base .. ':retention', ARGV[3], ticket_id)  -- forgotten after retention
local member = ticket_id .. ' ' .. version .. ' ' .. previous .. ' ' .. ARGV[3]
redis.call('ZADD', base .. ':closing', ARGV[5], member)
return member
