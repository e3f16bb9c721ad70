-- Forget closed tickets whose retention has run out: their routing state leaves Redis, their
-- events stay in the log (what a downstream consumer kept is unaffected).
--
-- Invariant: only a ticket that is still closed is forgotten. The index holds every ticket
-- at the time it was closed (re-closing moves it later); a ticket reopened since is simply
-- dropped from the index, and enters it again when it closes again. A mapping (thread,
-- email Message-ID, ticket number) is deleted only while it still names this ticket, so a
-- customer's newer ticket keeps its thread.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`;
--          keys used: :retention, :ticket:<id>, :routing:<id>, :history:<id>, :number:<n>,
--          the mappings named in :routing:<id>, :tickets, :status:closed, :backlog:<pool>,
--          :countdowns, :timers, :queue, :queue:<channel>
-- ARGV[1]  cutoff, epoch seconds: tickets closed at or before it are forgotten
-- ARGV[2]  most tickets to look at in this call
-- Returns: {forgotten, looked at}; the caller calls again while `looked at` = ARGV[2]

local base = KEYS[1]
local index = base .. ':retention'
local due = redis.call('ZRANGEBYSCORE', index, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local forgotten = 0
for _, ticket_id in ipairs(due) do
  local key = base .. ':ticket:' .. ticket_id
  local ticket = redis.call('HMGET', key, 'status', 'number', 'backlog', 'channel')
  if ticket[1] == 'closed' then
    local routing = base .. ':routing:' .. ticket_id
    local mappings = redis.call('SMEMBERS', routing)
    if ticket[2] then mappings[#mappings + 1] = 'number:' .. ticket[2] end
    for _, suffix in ipairs(mappings) do
      local mapping = base .. ':' .. suffix
      if redis.call('GET', mapping) == ticket_id then redis.call('DEL', mapping) end
    end
    if ticket[3] then redis.call('ZREM', base .. ':backlog:' .. ticket[3], ticket_id) end
    redis.call('ZREM', base .. ':queue', ticket_id)
    redis.call('ZREM', base .. ':queue:' .. (ticket[4] or ''), ticket_id)
    redis.call('DEL', key, routing, base .. ':history:' .. ticket_id)
    redis.call('ZREM', base .. ':tickets', ticket_id)
    redis.call('ZREM', base .. ':status:closed', ticket_id)
    redis.call('HDEL', base .. ':countdowns', ticket_id)
    redis.call('ZREM', base .. ':timers', ticket_id)
    forgotten = forgotten + 1
  end
  redis.call('ZREM', index, ticket_id)
end
return {forgotten, #due}
