-- Remember that the customer typed, so a close due within the grace period waits (C3).
--
-- The timer's score is left alone: typing only ever delays, and the fire loop re-checks
-- the deadline (with the grace) before it closes anything.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; keys used: :countdowns
-- ARGV[1]  ticket id
-- ARGV[2]  typing instant, epoch seconds
-- Returns: 1 when the countdown now holds this typing instant, else 0

local base, ticket_id = KEYS[1], ARGV[1]
local key = base .. ':countdowns'
local existing = redis.call('HGET', key, ticket_id)
if not existing then return 0 end
local version, started, typing = string.match(existing, '^(%S+) (%S+) (%S+)$')
if typing ~= '-' and tonumber(typing) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', key, ticket_id, version .. ' ' .. started .. ' ' .. ARGV[2])
return 1
