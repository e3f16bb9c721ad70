-- Start a ticket's countdown (C2): the first agent/AI message after the customer's last one.
--
-- Invariant: a countdown belongs to one activity version of its ticket. A start for an
-- older version than the ticket's (the customer wrote since) or for a closed ticket does
-- nothing, and a start for the version already running does not move its start: agent
-- and AI follow-ups never extend the countdown.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; keys used: :ticket:<id>, :countdowns, :timers
-- ARGV[1]  ticket id
-- ARGV[2]  activity version the countdown belongs to
-- ARGV[3]  countdown as stored: `<version> <started epoch s> -`
-- ARGV[4]  started_at, epoch seconds (the timer's score)
-- Returns: 1 when a countdown was started, 0 when the start was stale or redundant

local base, ticket_id = KEYS[1], ARGV[1]
local version = tonumber(ARGV[2])
local ticket = redis.call('HMGET', base .. ':ticket:' .. ticket_id, 'version', 'status')
if not ticket[1] or tonumber(ticket[1]) ~= version or ticket[2] == 'closed' then
  return 0
end
local existing = redis.call('HGET', base .. ':countdowns', ticket_id)
if existing and tonumber(string.match(existing, '^(%d+)')) >= version then
  return 0
end
redis.call('HSET', base .. ':countdowns', ticket_id, ARGV[3])
redis.call('ZADD', base .. ':timers', ARGV[4], ticket_id)
return 1
