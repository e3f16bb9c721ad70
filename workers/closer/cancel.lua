-- A customer message cancels the ticket's running countdown (C2).
--
-- Invariant: only a countdown older than the message's activity version is dropped, so a
-- redelivered old cancel never removes the countdown of a newer agent reply.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; keys used: :countdowns, :timers
-- ARGV[1]  ticket id
-- ARGV[2]  the ticket's activity version after the customer message
-- Returns: 1 when a countdown was dropped, else 0

local base, ticket_id = KEYS[1], ARGV[1]
local existing = redis.call('HGET', base .. ':countdowns', ticket_id)
if not existing or tonumber(string.match(existing, '^(%d+)')) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HDEL', base .. ':countdowns', ticket_id)
redis.call('ZREM', base .. ':timers', ticket_id)
return 1
