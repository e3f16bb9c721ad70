-- Assign waiting tickets of one pool in arrival order (R4: hours begin, agent online).
--
-- Invariant: one trigger drains at most once; its mark stores the entries so a replay
-- (redelivered presence record, or another replica handling the same opening) re-publishes
-- the same events instead of assigning again.
--
-- KEYS[1]  account base `tf:{acme}`
-- KEYS[2]  the trigger's mark for this pool (`Keys.mark` in workers/state/keys.py, kind `drain`)
-- ARGV[1]  account id   ARGV[2] time (RFC 3339)
-- ARGV[3]  event id prefix (the ticket id is appended)      ARGV[4] most tickets to assign
-- ARGV[5]  pool name    ARGV[6] online cutoff (epoch seconds)  ARGV[7..] pool agents in order
-- Returns: JSON array of ticket.assigned entries.

local base, mark_key, account_id, at, prefix = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local limit, pool_name, cutoff = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local prior = redis.call('GET', mark_key)
if prior then return prior end

local pool = unpack_pool(7)
local backlog = base .. ':backlog:' .. pool_name
local entries = {}
while #entries < limit do
  local head = redis.call('ZRANGE', backlog, 0, 0)[1]
  if not head then break end
  local key = base .. ':ticket:' .. head
  local state = redis.call('HMGET', key, 'status', 'agent_id', 'team_id')
  if state[1] == 'closed' or (state[2] and state[2] ~= '') then
    leave_backlog(base, head)  -- no longer waiting: closed, or someone took it
  else
    local agent = pick_agent(base, pool_name, pool, cutoff)
    if not agent then break end
    leave_backlog(base, head)
    local entry = set_responsibility(base, account_id, head, state[3] or '', agent, 'backlog',
                                     '', '', prefix .. head, at)
    if entry then entries[#entries + 1] = entry end
  end
end

local encoded = '[' .. table.concat(entries, ',') .. ']'
redis.call('SET', mark_key, encoded, 'EX', 604800)
return encoded
