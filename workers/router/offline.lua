-- Give an offline agent's waiting tickets back to the queue once they have been offline
-- for the account's `reassign_offline_after_seconds` (R15), and drop the claim's lease once
-- its events are out. workers/router/offline.py states the rules in Python.
--
-- Invariants:
-- * `<base>:offline_due` scores each agent whose reassignment is scheduled by when it is
--   due (presence.lua writes and clears it). The claim re-reads presence, so an agent who
--   came back, or whose sign of life moved the due time, is never reassigned early.
-- * One offline episode (agent, the instant they went offline) acts at most once: the mark
--   `<mark prefix><instant>` stores the entries, so a second replica, or a sweep after a
--   replica died before publishing, gets the same entries back (same event ids).
-- * Only open tickets still assigned to the agent (`open_of`, load.lua) whose last message
--   is the customer's (`last_author`) go back; in queue order (priority, then arrival) each
--   goes to an eligible agent of its pool by the account's method, within capacity (the
--   same pick as every automatic assignment), or waits in the queue unassigned.
-- * While the events are unpublished the agent stays in `offline_due` under a lease (the
--   claim's `lease` score); `done` removes it only if that score is still there.
--
-- KEYS[1]  account base `tf:{acme}`
-- KEYS[2]  the agent's offline mark prefix (`Keys.mark(account, 'offline', agent, '')`)
-- ARGV[1]  'claim' | 'done'     ARGV[2] account id     ARGV[3] agent id
-- claim:   ARGV[4] now (epoch s)   ARGV[5] now (RFC 3339)   ARGV[6] delay (s)
--          ARGV[7] presence timeout (s) or ''   ARGV[8] online cutoff (epoch s)
--          ARGV[9] lease expiry (epoch s)       ARGV[10] event id prefix
--          ARGV[11] JSON object pool name -> its agents in rotation order
--          ARGV[12] the account's load-aware settings (rotation.lua `use_routing`)
-- done:    ARGV[4] the lease expiry the claim set
-- Returns: claim: '' when nothing is due, else the JSON array of ticket.assigned entries;
--          done: ''.

local base, mark_prefix, mode, account_id, agent = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local due_key = base .. ':offline_due'

if mode == 'done' then
  local score = redis.call('ZSCORE', due_key, agent)
  if score and tonumber(score) == tonumber(ARGV[4]) then redis.call('ZREM', due_key, agent) end
  return ''
end

local now, at, delay = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local timeout, cutoff, lease, prefix = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10]

local score = redis.call('ZSCORE', due_key, agent)
if not score or tonumber(score) > now then return '' end

-- When the agent went offline as presence says now (offline.py `offline_since`).
local since
local seen = redis.call('ZSCORE', base .. ':online', agent)
if seen then
  if not timeout then  -- online, and no timeout can make them offline
    redis.call('ZREM', due_key, agent)
    return ''
  end
  since = tonumber(seen) + timeout
else
  -- the explicit offline; without one (Redis lost it), the time it was scheduled from
  since = tonumber(redis.call('HGET', base .. ':offline', agent)) or (tonumber(score) - delay)
end
local due = since + delay
if due > now then  -- a sign of life or a longer setting moved it
  redis.call('ZADD', due_key, due, agent)
  return ''
end

local episode = string.format('%.3f', since)
local mark_key = mark_prefix .. episode
local prior = redis.call('GET', mark_key)
if prior then
  redis.call('ZADD', due_key, lease, agent)
  return prior
end

local RANK = {urgent = 0, high = 1, normal = 2, low = 3}
local SPAN = 1099511627776  -- 2^40, capacity.py SEQUENCE_SPAN

local back = {}
for _, ticket_id in ipairs(redis.call('SMEMBERS', base .. ':open_of:' .. agent)) do  -- load.lua
  local t = redis.call('HMGET', base .. ':ticket:' .. ticket_id, 'status', 'agent_id',
                       'last_author', 'priority', 'number', 'team_id')
  if t[1] == 'open' and t[2] == agent and t[3] == 'customer' then
    back[#back + 1] = {id = ticket_id, number = tonumber(t[5]), team = t[6] or '',
                       score = (RANK[t[4] or 'normal'] or 2) * SPAN + tonumber(t[5])}
  end
end
table.sort(back, function(a, b) return a.score < b.score end)

-- In queue order, each to an eligible agent of its pool by the account's method
-- (rotation.lua pick_agent), or unassigned into the queue to wait (R12).
use_routing(ARGV[12])
local pools = cjson.decode(ARGV[11])
local entries = {}
for _, ticket in ipairs(back) do
  local pool_name = ticket.team ~= '' and ticket.team or '_account'
  local channel, skills = ticket_needs(base, ticket.id)
  local picked = pick_agent(base, pool_name, pools[pool_name] or {}, cutoff, channel, skills,
                            at) or ''
  if picked == '' then join_backlog(base, ticket.id, pool_name, ticket.number) end
  local entry = set_responsibility(base, account_id, ticket.id, ticket.team, picked, 'backlog',
                                   '', '', prefix .. episode .. '-' .. ticket.id, at,
                                   'agent_offline')
  if entry then entries[#entries + 1] = entry end
end

local encoded = '[' .. table.concat(entries, ',') .. ']'
redis.call('SET', mark_key, encoded, 'EX', 604800)
redis.call('ZADD', due_key, lease, agent)
return encoded
