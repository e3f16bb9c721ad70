-- Change who is responsible for one ticket on a command (R5-R7) or a tags change (R1).
--
-- Invariant: a command is applied to a ticket at most once; its mark stores the outcome so
-- a redelivered command re-publishes the same event. Manual changes never move a cursor.
--
-- KEYS[1]  account base `tf:{acme}`
-- KEYS[2]  the command's mark (`Keys.mark` in workers/state/keys.py: its kind's own family)
-- ARGV[1]  account id    ARGV[2] ticket id   ARGV[3] event id   ARGV[4] time (RFC 3339)
-- ARGV[5]  mode:
--          set_agent (ARGV[9] agent or '' to unassign; team kept)
--          transfer  (team ARGV[8]; agent cleared, or picked by rotation when a pool is
--                     given, else waiting in that pool's queue)
--          claim     (agent ARGV[9] only if the ticket has no agent; R7)
--          route     (team ARGV[8], agent ARGV[9], else rotation when a pool is given)
-- ARGV[6]  actor id      ARGV[7] method      ARGV[8] team id    ARGV[9] agent id
-- ARGV[10] rule id or '' ARGV[11] pool name or '' (no rotation)  ARGV[12] online cutoff
--          (a pool with no agents after ARGV[13]: hours are closed, the ticket waits)
-- ARGV[13] the account's load-aware settings (rotation.lua `use_routing`)
-- ARGV[14..] pool agents in order
-- A manual assignment may exceed capacity; a rotation's pick never does (R11).
-- Returns: entry JSON, '' when nothing changed, or 'missing' when the ticket does not exist.

local base, account_id, ticket_id, event_id, at = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mark_key = KEYS[2]
local mode, actor, method, team, agent = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local rule_id, pool_name, cutoff = ARGV[10], ARGV[11], tonumber(ARGV[12])
local key = base .. ':ticket:' .. ticket_id
use_routing(ARGV[13])

local prior = redis.call('GET', mark_key)
if prior then return prior end
local current = redis.call('HMGET', key, 'number', 'team_id', 'agent_id')
if not current[1] then return 'missing' end
local cur_team, cur_agent = current[2] or '', current[3] or ''

if mode == 'set_agent' then
  team = cur_team
elseif mode == 'transfer' then
  agent = ''
elseif mode == 'claim' then
  team = cur_team
  if cur_agent ~= '' then agent = cur_agent end
end
-- A transfer or a tags route leaves the queue of the pool it waited for; with a pool and
-- no agent named, the pool's rotation picks one, or the ticket waits in that pool's queue
-- (R12; with no pool agents given, hours are closed and it waits for them to open, R4).
local wait_in = ''
if mode == 'transfer' or mode == 'route' then leave_backlog(base, ticket_id) end
if (mode == 'transfer' or mode == 'route') and agent == '' and pool_name ~= '' then
  local channel, skills = ticket_needs(base, ticket_id)
  local picked = pick_agent(base, pool_name, unpack_pool(14), cutoff, channel, skills, at)
  if picked then
    agent = picked
    if mode == 'route' then method = auto_method() end
  else
    wait_in = pool_name
  end
end
if agent ~= '' then leave_backlog(base, ticket_id) end
if wait_in ~= '' then join_backlog(base, ticket_id, wait_in, current[1]) end

local entry = set_responsibility(base, account_id, ticket_id, team, agent, method, actor,
                                 rule_id, event_id, at) or ''
redis.call('SET', mark_key, entry, 'EX', 604800)
return entry
