-- Prelude: a ticket is in exactly one `status:<s>` view, the one its hash names.
--
-- Every script that changes a ticket's status (workers/state/set_status.lua, ingest.lua on
-- a reopen or unsnooze, closer/close.lua) moves it with this one function, so the rule is
-- written once. `load_script(..., preludes=("load", "status_view"))` puts it in front of
-- them; the agent's open count (load.lua `recount`) follows the status.
--
-- base      the account base, e.g. `tf:{acme}` (workers/state/keys.py `Keys.account`)
-- previous  the status the hash names now; status: the new one (they differ)
-- number    the ticket number, the views' score

local function move_status_view(base, ticket_id, previous, status, number)
  redis.call('HSET', base .. ':ticket:' .. ticket_id, 'status', status)
  redis.call('ZREM', base .. ':status:' .. previous, ticket_id)
  redis.call('ZADD', base .. ':status:' .. status, number, ticket_id)
  return recount(base, ticket_id)  -- prelude load.lua
end
