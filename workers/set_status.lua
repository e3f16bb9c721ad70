-- Move a ticket to a new status and keep the per-status views in step.
--
-- Invariant: a ticket is in exactly one `status:<s>` view, the one its hash names.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`
-- ARGV[1]  ticket id
-- ARGV[2]  new status: open | snoozed | closed
-- Returns: the previous status, or false when the ticket does not exist

local base, ticket_id, status = KEYS[1], ARGV[1], ARGV[2]
local key = base .. ':ticket:' .. ticket_id
local fields = redis.call('HMGET', key, 'status', 'number')
local previous, number = fields[1], fields[2]
if not previous then return false end
if previous ~= status then
  redis.call('HSET', key, 'status', status)
  redis.call('ZREM', base .. ':status:' .. previous, ticket_id)
  redis.call('ZADD', base .. ':status:' .. status, number, ticket_id)
end
return previous
