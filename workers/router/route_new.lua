-- Route new tickets once (R1, R2, R4, R8) and read who holds tickets that got a customer
-- message (N1), for one account, in batch order.
--
-- Invariant: a ticket is routed on creation at most once; a redelivered ticket.created
-- gets back the first decision (`route_entry`) and keeps its first assignment. Automatic
-- assignment (solo, round robin, balanced) never goes above an agent's capacity (R11); a
-- ticket it cannot place waits in the queue (R12).
--
-- One call covers a whole batch of one account: one command to pack and one reply to read
-- instead of one per ticket, while each step still applies atomically (scripts run alone).
--
-- KEYS[1]  account base `tf:{acme}`
-- ARGV[1]  account id          ARGV[2]  time (RFC 3339)     ARGV[3]  online cutoff (epoch s)
-- ARGV[4]  JSON array of steps, in order; each an object, either
--            {op = 'route', ticket_id, event_id, team_id, agent_id, rule_id, mode, pool,
--             pool_agents, priority, skills}   ('' = none; mode: solo | rule_agent |
--             rotate | backlog | none; priority and skills from the rule, R12, R14)
--            {op = 'read', ticket_id}
-- ARGV[5]  the account's load-aware settings (rotation.lua `use_routing`)
-- Returns: a JSON array, one result per step:
--          route: the ticket.assigned entry, '' when responsibility did not change,
--                 or 'missing' when the ticket does not exist;
--          read:  [agent id, opening message id], '' where unset.

local base, account_id, at, cutoff = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
use_routing(ARGV[5])

local function route_one(step)
  local ticket_id, event_id = step.ticket_id, step.event_id
  local team, agent, mode, pool_name = step.team_id, step.agent_id, step.mode, step.pool
  local key = base .. ':ticket:' .. ticket_id

  local number = redis.call('HGET', key, 'number')
  if not number then return 'missing' end
  if redis.call('HSETNX', key, 'routed', event_id) == 0 then
    return redis.call('HGET', key, 'route_entry') or ''
  end

  if step.priority and step.priority ~= '' then redis.call('HSET', key, 'priority', step.priority) end
  if step.skills and #step.skills > 0 then
    redis.call('HSET', key, 'skills', cjson.encode(step.skills))
  end
  local channel, skills = ticket_needs(base, ticket_id)

  local method = 'rule'
  if mode == 'solo' then
    method = 'solo'
    if not has_room(base, agent, channel) then
      agent = ''
      join_backlog(base, ticket_id, pool_name, number)
    end
  elseif mode == 'rotate' then
    local picked = pick_agent(base, pool_name, step.pool_agents, cutoff, channel, skills, at)
    if picked then
      agent, method = picked, auto_method()
    else
      join_backlog(base, ticket_id, pool_name, number)
    end
  elseif mode == 'backlog' then
    join_backlog(base, ticket_id, pool_name, number)
  end

  local entry = set_responsibility(base, account_id, ticket_id, team, agent, method, '',
                                   step.rule_id, event_id, at) or ''
  redis.call('HSET', key, 'route_entry', entry)
  return entry
end

local results = {}
for i, step in ipairs(cjson.decode(ARGV[4])) do
  if step.op == 'route' then
    local entry = route_one(step)
    -- an entry is already JSON; the two markers become JSON strings
    results[i] = (entry == '' or entry == 'missing') and cjson.encode(entry) or entry
  else
    local held = redis.call('HMGET', base .. ':ticket:' .. step.ticket_id, 'agent_id',
                            'opening_message_id')
    results[i] = cjson.encode({held[1] or '', held[2] or ''})
  end
end
return '[' .. table.concat(results, ',') .. ']'
