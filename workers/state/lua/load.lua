-- Prelude: each agent's open assigned tickets per channel (R11), derived from ticket state.
--
-- `<base>:load:<agent>` (hash channel -> count) and `<base>:open_of:<agent>` (set of ticket
-- ids) count the tickets whose status is `open` and whose agent is that agent. The ticket
-- hash remembers what it is counted as (`counted_agent`, `counted_channel`); `recount`
-- compares that with what the ticket is now and moves the count only when they differ, so
-- calling it twice, or on a replay, changes nothing. Every change of a ticket's status or
-- agent goes through `move_status_view` (status_view.lua) or `set_responsibility`
-- (workers/router/rotation.lua), and both call it; load this prelude in front of them.
--
-- Returns the agent whose count went down (a place freed), or false.

local function recount(base, ticket_id)
  local key = base .. ':ticket:' .. ticket_id
  local t = redis.call('HMGET', key, 'status', 'agent_id', 'channel', 'counted_agent',
                       'counted_channel')
  local agent, channel = '', ''
  if t[1] == 'open' and t[2] and t[2] ~= '' then agent, channel = t[2], t[3] or '' end
  local had_agent, had_channel = t[4] or '', t[5] or ''
  if agent == had_agent and channel == had_channel then return false end
  if had_agent ~= '' then
    redis.call('HINCRBY', base .. ':load:' .. had_agent, had_channel, -1)
    redis.call('SREM', base .. ':open_of:' .. had_agent, ticket_id)
  end
  if agent ~= '' then
    redis.call('HINCRBY', base .. ':load:' .. agent, channel, 1)
    redis.call('SADD', base .. ':open_of:' .. agent, ticket_id)
    redis.call('HSET', key, 'counted_agent', agent, 'counted_channel', channel)
  else
    redis.call('HDEL', key, 'counted_agent', 'counted_channel')
  end
  if had_agent ~= '' and had_agent ~= agent then return had_agent end
  return false
end
