-- Shared prelude of the router's scripts: rotation and responsibility changes.
-- Loaded in front of route_new.lua, assign.lua, drain.lua and reply.lua
-- (workers/router/store.py), after workers/state/lua/load.lua; it defines functions only
-- and touches no key by itself.
--
-- Invariants:
-- * The cursor `<base>:rr:<pool>` names the last agent served; the next turn goes to the
--   first eligible agent after it in pool order. It only moves inside these scripts, so two
--   replicas never hand out the same turn twice (R2), nor a place above capacity (R11):
--   the check and the assignment run in one script.
-- * Every responsibility change appends exactly one ticket.assigned entry to the ticket's
--   history `<base>:history:<ticket>` (R9), built here so history and event are identical.

-- The account's load-aware settings (R11, R13, R14), from the account document: a JSON
-- object {method = round_robin | balanced, solo = bool, agents = {<id> = {capacity =
-- {<channel> = n}, skills = [names]}}}; an agent left out has no capacity and no skills.
-- A script that picks agents calls `use_routing` with it first. Mirrors
-- workers/router/capacity.py (is_eligible, choose_agent): keep them the same.
local routing = {method = 'round_robin', solo = false, agents = {}}

local function use_routing(encoded)
  if encoded and encoded ~= '' then routing = cjson.decode(encoded) end
end

local function has_room(base, agent, channel)
  local conf = routing.agents[agent]
  local limit = conf and conf.capacity and conf.capacity[channel]
  if limit == nil or limit == cjson.null then return true end
  local open = tonumber(redis.call('HGET', base .. ':load:' .. agent, channel) or '0') or 0
  return open < limit
end

local function has_skills(agent, skills)
  if #skills == 0 then return true end
  local have = {}
  local conf = routing.agents[agent]
  if conf and conf.skills then
    for _, skill in ipairs(conf.skills) do have[skill] = true end
  end
  for _, skill in ipairs(skills) do
    if not have[skill] then return false end
  end
  return true
end

-- Online (a solo account's one agent needs not be, R8), every skill, room on the channel.
local function is_eligible(base, agent, channel, skills, cutoff)
  if not routing.solo then
    local seen = redis.call('ZSCORE', base .. ':online', agent)
    if not (seen and tonumber(seen) >= cutoff) then return false end
  end
  return has_skills(agent, skills) and has_room(base, agent, channel)
end

-- What a ticket asks of its agent: its channel and required skills (set at routing).
local function ticket_needs(base, ticket_id)
  local t = redis.call('HMGET', base .. ':ticket:' .. ticket_id, 'channel', 'skills')
  local skills = {}
  if t[2] and t[2] ~= '' then skills = cjson.decode(t[2]) end
  return t[1] or '', skills
end

local function open_total(base, agent)
  local total = 0
  for _, n in ipairs(redis.call('HVALS', base .. ':load:' .. agent)) do
    total = total + (tonumber(n) or 0)
  end
  return total
end

-- The agent that automatically gets the ticket (channel, skills), or false: it waits
-- (R12). Round robin: the first eligible agent after the cursor, which moves to them;
-- balanced: fewest open tickets on every channel, then oldest last automatic assignment
-- (`last_auto`, never = oldest), then pool order. Every automatic assignment is stamped.
local function pick_agent(base, pool_name, pool, cutoff, channel, skills, at)
  local n = #pool
  if n == 0 then return false end
  local chosen = false
  if routing.method == 'balanced' then
    local best_open, best_age
    for i = 1, n do
      local candidate = pool[i]
      if is_eligible(base, candidate, channel, skills, cutoff) then
        local open = open_total(base, candidate)
        local age = tonumber(redis.call('HGET', base .. ':last_auto', candidate) or '0') or 0
        if not chosen or open < best_open or (open == best_open and age < best_age) then
          chosen, best_open, best_age = candidate, open, age
        end
      end
    end
  else
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
      if is_eligible(base, candidate, channel, skills, cutoff) then
        redis.call('SET', cursor_key, candidate)
        chosen = candidate
        break
      end
    end
  end
  if chosen then
    local stamp = redis.call('INCR', base .. ':auto_seq')
    redis.call('HSET', base .. ':last_auto', chosen, stamp)
    redis.call('HSET', base .. ':last_auto_at', chosen, at)
  end
  return chosen
end

-- The method an automatic pick records (round robin or balanced, R13).
local function auto_method()
  if routing.method == 'balanced' then return 'balanced' end
  return 'round_robin'
end

local function nullable(value)
  if value == nil or value == false or value == '' then return cjson.null end
  return value
end

-- Set team and agent ('' = none). Returns the history entry (JSON), or false if nothing changed.
-- The entry carries the ticket's priority when it has one, and `reason` (a drain's).
-- The agent's open count follows (prelude load.lua `recount`).
local function set_responsibility(base, account_id, ticket_id, team, agent, method, actor,
                                  rule_id, event_id, at, reason)
  local key = base .. ':ticket:' .. ticket_id
  local current = redis.call('HMGET', key, 'team_id', 'agent_id', 'priority')
  local prev_team, prev_agent = current[1] or '', current[2] or ''
  if prev_team == team and prev_agent == agent then return false end
  if team == '' then redis.call('HDEL', key, 'team_id') else redis.call('HSET', key, 'team_id', team) end
  if agent == '' then redis.call('HDEL', key, 'agent_id') else redis.call('HSET', key, 'agent_id', agent) end
  local entry = cjson.encode({
    type = 'ticket.assigned', event_id = event_id, account_id = account_id,
    ticket_id = ticket_id, team_id = nullable(team), agent_id = nullable(agent),
    previous_team_id = nullable(prev_team), previous_agent_id = nullable(prev_agent),
    method = method, actor_id = nullable(actor), rule_id = nullable(rule_id), at = at,
    priority = current[3] or nil, reason = (reason and reason ~= '') and reason or nil,
  })
  redis.call('RPUSH', base .. ':history:' .. ticket_id, entry)
  recount(base, ticket_id)
  return entry
end

-- A waiting ticket is in the account's queue (`<base>:queue`, R12) and its channel's
-- (`<base>:queue:<channel>`, walked by a drain), both scored by priority then number
-- (capacity.py `queue_score`), and in at most one pool's backlog (`<base>:backlog:<pool>`,
-- by number); the ticket hash remembers which pool.
local PRIORITY_RANK = {urgent = 0, high = 1, normal = 2, low = 3}
local SEQUENCE_SPAN = 1099511627776  -- 2^40, capacity.py SEQUENCE_SPAN

local function join_backlog(base, ticket_id, pool_name, number)
  local key = base .. ':ticket:' .. ticket_id
  local t = redis.call('HMGET', key, 'priority', 'channel')
  local rank = PRIORITY_RANK[t[1] or 'normal'] or 2
  local score = string.format('%.0f', rank * SEQUENCE_SPAN + tonumber(number))
  redis.call('ZADD', base .. ':backlog:' .. pool_name, number, ticket_id)
  redis.call('ZADD', base .. ':queue', score, ticket_id)
  redis.call('ZADD', base .. ':queue:' .. (t[2] or ''), score, ticket_id)
  redis.call('HSET', key, 'backlog', pool_name)
end

local function leave_backlog(base, ticket_id)
  local key = base .. ':ticket:' .. ticket_id
  local pool_name = redis.call('HGET', key, 'backlog')
  if pool_name then
    redis.call('ZREM', base .. ':backlog:' .. pool_name, ticket_id)
    redis.call('HDEL', key, 'backlog')
  end
  redis.call('ZREM', base .. ':queue', ticket_id)
  redis.call('ZREM', base .. ':queue:' .. (redis.call('HGET', key, 'channel') or ''), ticket_id)
end

local function unpack_pool(first)
  local pool = {}
  for i = first, #ARGV do pool[#pool + 1] = ARGV[i] end
  return pool
end
