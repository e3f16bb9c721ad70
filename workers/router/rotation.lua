-- Shared prelude of the router's scripts: rotation and responsibility changes.
-- Loaded in front of route_new.lua, assign.lua and drain.lua (workers/router/store.py);
-- it defines functions only and touches no key by itself.
--
-- Invariants:
-- * The cursor `<base>:rr:<pool>` names the last agent served; the next turn goes to the
--   first online agent after it in pool order. It only moves inside these scripts, so two
--   replicas never hand out the same turn twice (R2).
-- * Every responsibility change appends exactly one ticket.assigned entry to the ticket's
--   history `<base>:history:<ticket>` (R9), built here so history and event are identical.

local function pick_agent(base, pool_name, pool, cutoff)
  local n = #pool
  if n == 0 then return false end
  local cursor_key = base .. ':rr:' .. pool_name
  local last = redis.call('GET', cursor_key)
  local start = 1
  if last then
    for i = 1, n do
      if pool[i] == last then start = i + 1; break end
    end
  end
  for k = 0, n - 1 do
    local candidate = pool[((start - 1 + k) % n) + 1]
    local seen = redis.call('ZSCORE', base .. ':online', candidate)
    if seen and tonumber(seen) >= cutoff then
      redis.call('SET', cursor_key, candidate)
      return candidate
    end
  end
  return false
end

local function nullable(value)
  if value == nil or value == false or value == '' then return cjson.null end
  return value
end

-- Set team and agent ('' = none). Returns the history entry (JSON), or false if nothing changed.
local function set_responsibility(base, account_id, ticket_id, team, agent, method, actor,
                                  rule_id, event_id, at)
  local key = base .. ':ticket:' .. ticket_id
  local current = redis.call('HMGET', key, 'team_id', 'agent_id')
  local prev_team, prev_agent = current[1] or '', current[2] or ''
  if prev_team == team and prev_agent == agent then return false end
  if team == '' then redis.call('HDEL', key, 'team_id') else redis.call('HSET', key, 'team_id', team) end
  if agent == '' then redis.call('HDEL', key, 'agent_id') else redis.call('HSET', key, 'agent_id', agent) end
  local entry = cjson.encode({
    type = 'ticket.assigned', event_id = event_id, account_id = account_id,
    ticket_id = ticket_id, team_id = nullable(team), agent_id = nullable(agent),
    previous_team_id = nullable(prev_team), previous_agent_id = nullable(prev_agent),
    method = method, actor_id = nullable(actor), rule_id = nullable(rule_id), at = at,
  })
  redis.call('RPUSH', base .. ':history:' .. ticket_id, entry)
  return entry
end

-- A ticket waits in at most one backlog (`<base>:backlog:<pool>`, scored by ticket number
-- so it drains in arrival order); the ticket hash remembers which.
local function join_backlog(base, ticket_id, pool_name, number)
  redis.call('ZADD', base .. ':backlog:' .. pool_name, number, ticket_id)
  redis.call('HSET', base .. ':ticket:' .. ticket_id, 'backlog', pool_name)
end

local function leave_backlog(base, ticket_id)
  local key = base .. ':ticket:' .. ticket_id
  local pool_name = redis.call('HGET', key, 'backlog')
  if pool_name then
    redis.call('ZREM', base .. ':backlog:' .. pool_name, ticket_id)
    redis.call('HDEL', key, 'backlog')
  end
end

local function unpack_pool(first)
  local pool = {}
  for i = first, #ARGV do pool[#pool + 1] = ARGV[i] end
  return pool
end
