-- Assign waiting tickets in queue order (R4, R12: hours begin, an agent comes online, a
-- place frees), each by the account's method to an eligible agent of its pool.
--
-- Invariants: one trigger drains at most once; its marks store the entries so a replay
-- (redelivered record, or another replica handling the same opening) re-publishes the same
-- events instead of assigning again. Tickets leave the queue by priority, then arrival
-- (`<base>:queue`, capacity.py `queue_score`); one nobody can take keeps waiting without
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

-- Which channels anyone could take a ticket on (online, with room): a ticket of a channel
-- nobody has room on is not looked at, and the walk ends once no channel has room, so a
-- freed place costs the tickets in front of the first one that fits, not the whole queue.
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
local function anyone_free()
  for _, channel in ipairs(channels) do
    if free[channel] then return true end
  end
  return false
end
for _, channel in ipairs(channels) do refresh(channel) end

local entries, by_pool = {}, {}
local CHUNK = 200
local start = 0
local queued = redis.call('EXISTS', base .. ':queue') == 1
while queued and anyone_free() and #entries < limit do
  local waiting = redis.call('ZRANGE', base .. ':queue', start, start + CHUNK - 1)
  if #waiting == 0 then break end
  local left = 0  -- tickets of this chunk that stay in the queue
  for _, ticket_id in ipairs(waiting) do
    if #entries >= limit or not anyone_free() then break end
    local key = base .. ':ticket:' .. ticket_id
    local state = redis.call('HMGET', key, 'status', 'agent_id', 'team_id', 'backlog')
    if not state[1] or state[1] == 'closed' or (state[2] and state[2] ~= '') then
      leave_backlog(base, ticket_id)  -- no longer waiting: gone, closed, or someone took it
    else
      left = left + 1
      local pool_name = state[4] or ''
      local pool = pools[pool_name]
      local channel, skills = ticket_needs(base, ticket_id)
      if pool and free[channel] ~= false then
        local agent = pick_agent(base, pool_name, pool, cutoff, channel, skills, at)
        if agent then
          left = left - 1
          leave_backlog(base, ticket_id)
          local entry = set_responsibility(base, account_id, ticket_id, state[3] or '', agent,
                                           'backlog', '', '', prefixes[pool_name] .. ticket_id,
                                           at, reason)
          if entry then
            entries[#entries + 1] = entry
            by_pool[pool_name] = by_pool[pool_name] or {}
            table.insert(by_pool[pool_name], entry)
          end
          refresh(channel)
        end
      end
    end
  end
  start = start + left  -- what left the queue shifted the rest forward
end

for pool_name, assigned in pairs(by_pool) do
  redis.call('SET', marks[pool_name], '[' .. table.concat(assigned, ',') .. ']', 'EX', 604800)
end
return '[' .. table.concat(entries, ',') .. ']'
