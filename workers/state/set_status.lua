-- Move a ticket to a new status and keep the per-status views in step.
--
-- Invariants: a ticket is in exactly one `status:<s>` view, the one its hash names
-- (`move_status_view`, prelude workers/state/lua/status_view.lua); with a
-- mark, a command is applied once and a replay returns the first answer.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`
-- KEYS[2]  optional mark (`Keys.mark` in workers/state/keys.py, kind `set_status`); absent for none
-- ARGV[1]  ticket id
-- ARGV[2]  new status: open | snoozed | closed
-- ARGV[3]  the change's instant, epoch seconds: a closed ticket enters `:retention` with it
--          (forgotten after its retention, workers/closer/purge.lua)
-- Returns: the previous status, or false when the ticket does not exist

local base, ticket_id, status = KEYS[1], ARGV[1], ARGV[2]
local mark_key = KEYS[2]
if mark_key then
  local prior = redis.call('GET', mark_key)
  if prior then return prior end
end
local key = base .. ':ticket:' .. ticket_id
local fields = redis.call('HMGET', key, 'status', 'number')
local previous, number = fields[1], fields[2]
if not previous then return false end
if previous ~= status then
  move_status_view(base, ticket_id, previous, status, number)  -- prelude status_view.lua
  if status == 'closed' then redis.call('ZADD', base .. ':retention', ARGV[3], ticket_id) end
end
if mark_key then redis.call('SET', mark_key, previous, 'EX', 604800) end
return previous
