-- Move a countdown that is not due after all, or drop one that went stale (C3, C6).
--
-- Compare-and-set on the countdown's stored form, so a decision made before a newer
-- start, cancel or typing arrived is not applied over it.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; keys used: :countdowns, :timers
-- ARGV[1]  ticket id
-- ARGV[2]  the countdown as read when deciding (stored form; '' if it had none)
-- ARGV[3]  new timer score, epoch seconds; '' drops the countdown
-- Returns: 1 when applied, 0 when the countdown changed meanwhile

local base, ticket_id = KEYS[1], ARGV[1]
local countdown = redis.call('HGET', base .. ':countdowns', ticket_id)
if (countdown or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', base .. ':countdowns', ticket_id)
  redis.call('ZREM', base .. ':timers', ticket_id)
else
  redis.call('ZADD', base .. ':timers', 'XX', ARGV[3], ticket_id)
end
return 1
