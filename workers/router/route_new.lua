-- Route a new ticket once (R1, R2, R4, R8): team from rules, agent by solo/rule/rotation,
-- or into the pool's backlog when nobody can take it now.
--
-- Invariant: a ticket is routed on creation at most once; a redelivered ticket.created
-- gets back the first decision (`route_entry`) and keeps its first assignment.
--
-- KEYS[1]  account base `tf:{acme}`
-- ARGV[1]  account id          ARGV[2]  ticket id        ARGV[3]  event id
-- ARGV[4]  time (RFC 3339)     ARGV[5]  team id or ''    ARGV[6]  agent id or '' (solo/rule)
-- ARGV[7]  rule id or ''       ARGV[8]  mode: solo | rule_agent | rotate | backlog | none
-- ARGV[9]  pool name           ARGV[10] online cutoff (epoch seconds)
-- ARGV[11..] pool agents in order
-- Returns: the ticket.assigned entry JSON, or '' when responsibility did not change,
--          or 'missing' when the ticket does not exist.

local base, account_id, ticket_id, event_id, at = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local team, agent, rule_id, mode = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local pool_name, cutoff = ARGV[9], tonumber(ARGV[10])
local key = base .. ':ticket:' .. ticket_id

local number = redis.call('HGET', key, 'number')
if not number then return 'missing' end
if redis.call('HSETNX', key, 'routed', event_id) == 0 then
  return redis.call('HGET', key, 'route_entry') or ''
end

local method = 'rule'
if mode == 'solo' then
  method = 'solo'
elseif mode == 'rotate' then
  local picked = pick_agent(base, pool_name, unpack_pool(11), cutoff)
  if picked then
    agent, method = picked, 'round_robin'
  else
    join_backlog(base, ticket_id, pool_name, number)
  end
elseif mode == 'backlog' then
  join_backlog(base, ticket_id, pool_name, number)
end

local entry = set_responsibility(base, account_id, ticket_id, team, agent, method, '',
                                 rule_id, event_id, at) or ''
redis.call('HSET', key, 'route_entry', entry)
return entry
