-- Assign waiting tickets in queue order (R4, R12: hours begin, an agent comes online, a
-- place frees), each by the account's method to an eligible agent of its pool.
--
-- Invariants: one trigger drains at most once; its marks store the entries so a replay
-- (redelivered record, or another replica handling the same opening) re-publishes the same
-- events instead of assigning again. Tickets leave the queue by priority, then arrival
-- (`<base>:queue:<channel>`, capacity.py `queue_score`); one nobody can take keeps waiting without
-- holding back those behind it; each assignment takes a place, so one freed place assigns
-- one ticket, and no agent goes above capacity (R11), the check and the assignment being
-- one script. A pool that assigned nothing leaves no mark; a drain with no mark at all may
-- run again on a replay and assign what has room by then, which is as right.
--
-- KEYS[1]  account base `tf:{acme}`
-- KEYS[2..] the trigger's mark for each pool of ARGV[8], in that order (`Keys.mark` in
--          workers/state/keys.py, kind `drain`): each holds what its pool assigned
-- ARGV[1]  account id   ARGV[2] time (RFC 3339)
-- ARGV[3]  (unused)     ARGV[4] most tickets to assign
-- ARGV[5]  reason (`capacity_freed`, `agent_online`, `hours_opened`)
-- ARGV[6]  online cutoff (epoch seconds)
-- ARGV[7]  the account's load-aware settings (rotation.lua `use_routing`)
-- ARGV[8]  JSON array of {pool, agents (in order), prefix (event id prefix; the ticket id
--          is appended)}; tickets of other pools keep waiting
-- Returns: JSON array of ticket.assigned entries.

local base, account_id, at = KEYS[1], ARGV[1], ARGV[2]
local limit, reason, cutoff = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local given = cjson.decode(ARGV[8])
local pools, marks, prefixes, stored = {}, {}, {}, {}
local replay = false
for i, pool in ipairs(given) do
  pools[pool.pool], marks[pool.pool], prefixes[pool.pool] = pool.agents, KEYS[i + 1], pool.prefix
  local prior = redis.call('GET', KEYS[i + 1])
  if prior then
    replay = true
    if prior ~= '[]' then stored[#stored + 1] = string.sub(prior, 2, -2) end
  end
end
if replay then return '[' .. table.concat(stored, ',') .. ']' end
use_routing(ARGV[7])

-- Which channels anyone could take a ticket on (online, with room). Each channel has its
-- own queue (`<base>:queue:<channel>`, same scores as `<base>:queue`); only the queues of
-- channels with room are walked, merged in queue order, and a channel leaves the walk once
-- nobody has room on it. So a freed place costs the tickets of its channel in front of
-- the first one that fits, not the queues of the other channels.
local channels = {'sms', 'email', 'webchat'}
local free = {}
local function refresh(channel)
  free[channel] = false
  for _, pool in pairs(pools) do
    for _, agent in ipairs(pool) do
      if is_eligible(base, agent, channel, {}, cutoff) then
        free[channel] = true
        return
      end
    end
  end
end

-- Tickets queued before the channel queues existed are in `<base>:queue` only: file them
-- into their channel's queue once (the counts differ only then).
local total = redis.call('ZCARD', base .. ':queue')
if total > 0 then
  local filed = redis.call('ZCARD', base .. ':queue:')  -- tickets without a channel
  for _, channel in ipairs(channels) do
    filed = filed + redis.call('ZCARD', base .. ':queue:' .. channel)
  end
  if filed < total then
    local all = redis.call('ZRANGE', base .. ':queue', 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
      local channel = redis.call('HGET', base .. ':ticket:' .. all[i], 'channel') or ''
      redis.call('ZADD', base .. ':queue:' .. channel, all[i + 1], all[i])
    end
  end
end

-- One cursor per channel with room: the chunk read from its queue and the offset of the
-- next chunk (what left the queue shifts the rest forward).
local CHUNK = 200
local walks = {}
for _, channel in ipairs(channels) do
  if total > 0 then refresh(channel) end
  if free[channel] then
    walks[channel] = {key = base .. ':queue:' .. channel, chunk = {}, pos = 1, start = 0,
                      kept = 0, done = false}
  end
end

-- The head (ticket id, score) of a channel's walk, reading the next chunk when needed.
local function head(walk)
  if walk.pos > #walk.chunk then
    if walk.done then return nil end
    walk.start = walk.start + walk.kept
    walk.chunk = redis.call('ZRANGE', walk.key, walk.start, walk.start + CHUNK - 1,
                            'WITHSCORES')
    walk.pos, walk.kept = 1, 0
    if #walk.chunk == 0 then
      walk.done = true
      return nil
    end
  end
  return walk.chunk[walk.pos], tonumber(walk.chunk[walk.pos + 1])
end

local entries, by_pool = {}, {}
while #entries < limit do
  local best, best_id, best_score = nil, nil, nil
  for _, channel in ipairs(channels) do
    local walk = walks[channel]
    if walk then
      local id, score = head(walk)
      if not id then
        walks[channel] = nil
      elseif not best_score or score < best_score then
        best, best_id, best_score = channel, id, score
      end
    end
  end
  if not best then break end
  local walk = walks[best]
  walk.pos = walk.pos + 2
  local ticket_id = best_id
  local key = base .. ':ticket:' .. ticket_id
  local state = redis.call('HMGET', key, 'status', 'agent_id', 'team_id', 'backlog')
  if not state[1] or state[1] == 'closed' or (state[2] and state[2] ~= '') then
    leave_backlog(base, ticket_id)  -- no longer waiting: gone, closed, or someone took it
    redis.call('ZREM', walk.key, ticket_id)  -- a ticket gone from Redis has no channel left
  else
    walk.kept = walk.kept + 1
    local pool_name = state[4] or ''
    local pool = pools[pool_name]
    if pool then
      local _, skills = ticket_needs(base, ticket_id)
      local agent = pick_agent(base, pool_name, pool, cutoff, best, skills, at)
      if agent then
        walk.kept = walk.kept - 1
        leave_backlog(base, ticket_id)
        local entry = set_responsibility(base, account_id, ticket_id, state[3] or '', agent,
                                         'backlog', '', '', prefixes[pool_name] .. ticket_id,
                                         at, reason)
        if entry then
          entries[#entries + 1] = entry
          by_pool[pool_name] = by_pool[pool_name] or {}
          table.insert(by_pool[pool_name], entry)
        end
        refresh(best)
        if not free[best] then walks[best] = nil end
      end
    end
  end
end

for pool_name, assigned in pairs(by_pool) do
  redis.call('SET', marks[pool_name], '[' .. table.concat(assigned, ',') .. ']', 'EX', 604800)
end
return '[' .. table.concat(entries, ',') .. ']'
