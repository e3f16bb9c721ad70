-- Record an agent's or the AI's reply (R7, C2).
--
-- Invariants: a reply command is applied at most once (its mark stores the outcome);
-- the inactivity countdown starts only at the first agent/AI reply after the customer's
-- last message (`countdown_started_at` is cleared by every customer message), so later
-- replies never extend it.
--
-- KEYS[1]  account base `tf:{acme}`
-- KEYS[2]  the command's mark (`Keys.mark` in workers/state/keys.py, kind `reply`)
-- ARGV[1]  account id   ARGV[2] ticket id
-- ARGV[3]  '1' if the author may claim the ticket (an agent whose role may assign), else '0'
-- ARGV[4]  actor id     ARGV[5] assignment event id   ARGV[6] time (RFC 3339)
-- ARGV[7]  outbound email Message-ID to thread customer answers by
-- ARGV[8]  author kind: agent | ai (the ticket's `last_author`)
-- Returns: JSON {entry, countdown_version, countdown_started_at} or 'missing'.

local base, mark_key, account_id, ticket_id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local may_claim, actor, event_id, at, message_id = ARGV[3] == '1', ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local author_kind = ARGV[8] or 'agent'
local key = base .. ':ticket:' .. ticket_id

local prior = redis.call('GET', mark_key)
if prior then return prior end
local state = redis.call('HMGET', key, 'number', 'status', 'agent_id', 'team_id')
if not state[1] then return 'missing' end

local outcome = {}
if may_claim and (not state[3] or state[3] == '') then
  leave_backlog(base, ticket_id)
  outcome['entry'] = set_responsibility(base, account_id, ticket_id, state[4] or '', actor,
                                        'reply', actor, '', event_id, at)
end
if state[2] ~= 'closed' and redis.call('HSETNX', key, 'countdown_started_at', at) == 1 then
  outcome['countdown_version'] = tonumber(redis.call('HGET', key, 'version'))
  outcome['countdown_started_at'] = at
end
redis.call('SET', base .. ':email:' .. message_id, ticket_id)
redis.call('SADD', base .. ':routing:' .. ticket_id, 'email:' .. message_id)  -- purge.lua
redis.call('HINCRBY', key, 'reply_count', 1)
redis.call('HSET', key, 'last_author', author_kind)  -- the customer's last message is answered (R15)

local encoded = cjson.encode(outcome)
redis.call('SET', mark_key, encoded, 'EX', 604800)
return encoded
