-- Thread one customer message into a ticket, atomically with its dedup mark (I2-I4).
--
-- Invariant: a provider message id is applied at most once. The mark stores the outcome,
-- so a redelivered message returns the first outcome and the worker re-publishes the
-- very same events (same event ids) instead of applying the message again.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; every key used is `KEYS[1] .. ':' .. suffix`
-- ARGV[1]  channel: sms | email | webchat
-- ARGV[2]  provider message id
-- ARGV[3]  thread key (sms: shop+customer number, webchat: session id; '' for email)
-- ARGV[4]  email references to look up, newest first, joined by '\n' ('' if none)
-- ARGV[5]  ticket number from a `[#n]` subject token ('' if none)
-- ARGV[6]  customer identity key (for the customer's ticket count)
-- ARGV[7]  ticket id to use if this message opens a new ticket
-- ARGV[8]  message time, RFC 3339
-- ARGV[9]  dedup mark lifetime, seconds
-- ARGV[10..] field/value pairs stored on a new ticket (customer, subject, ...)
-- Returns: JSON {kind, ticket_id, number, created_at, customer_ticket_count,
--                previous_status, version, duplicate}
--          kind: created | appended | reopened | unsnoozed

local base = KEYS[1]
local channel, message_id, thread_key = ARGV[1], ARGV[2], ARGV[3]
local refs, subject_number, customer_key = ARGV[4], ARGV[5], ARGV[6]
local new_ticket_id, at, seen_ttl = ARGV[7], ARGV[8], tonumber(ARGV[9])

local seen_key = base .. ':seen:' .. channel .. ':' .. message_id
local prior = redis.call('GET', seen_key)
if prior then
  local outcome = cjson.decode(prior)
  outcome['duplicate'] = true
  return cjson.encode(outcome)
end

-- Find the ticket this message continues.
local ticket_id = false
if channel == 'email' then
  if refs ~= '' then
    for ref in string.gmatch(refs, '[^\n]+') do
      ticket_id = redis.call('GET', base .. ':email:' .. ref)
      if ticket_id then break end
    end
  end
  if not ticket_id and subject_number ~= '' then
    ticket_id = redis.call('GET', base .. ':number:' .. subject_number)
  end
else
  ticket_id = redis.call('GET', base .. ':thread:' .. thread_key)
end

local outcome = {}
local ticket_key
if ticket_id then
  ticket_key = base .. ':ticket:' .. ticket_id
  local status = redis.call('HGET', ticket_key, 'status')
  if status == 'closed' and channel == 'webchat' then
    ticket_id = false  -- a closed chat is never reopened: a new ticket starts
  elseif status == 'closed' or status == 'snoozed' then
    local number = redis.call('HGET', ticket_key, 'number')
    redis.call('HSET', ticket_key, 'status', 'open')
    redis.call('ZREM', base .. ':status:' .. status, ticket_id)
    redis.call('ZADD', base .. ':status:open', number, ticket_id)
    outcome['kind'] = (status == 'closed') and 'reopened' or 'unsnoozed'
    outcome['previous_status'] = status
  else
    outcome['kind'] = 'appended'
  end
end

if not ticket_id then
  ticket_id = new_ticket_id
  ticket_key = base .. ':ticket:' .. ticket_id
  local number = redis.call('INCR', base .. ':seq')
  local count = redis.call('INCR', base .. ':customer:' .. customer_key)
  redis.call('HSET', ticket_key, 'ticket_id', ticket_id, 'number', number, 'status', 'open',
             'created_at', at, 'customer_key', customer_key,
             'customer_ticket_count', count, 'version', 0)
  for i = 10, #ARGV, 2 do
    if ARGV[i + 1] ~= '' then redis.call('HSET', ticket_key, ARGV[i], ARGV[i + 1]) end
  end
  redis.call('SET', base .. ':number:' .. number, ticket_id)
  redis.call('ZADD', base .. ':tickets', number, ticket_id)
  redis.call('ZADD', base .. ':status:open', number, ticket_id)
  outcome['kind'] = 'created'
end

if channel == 'email' then
  redis.call('SET', base .. ':email:' .. message_id, ticket_id)
else
  redis.call('SET', base .. ':thread:' .. thread_key, ticket_id)
end

-- Customer activity: a new activity version makes any running countdown stale (C2, C6).
local version = redis.call('HINCRBY', ticket_key, 'version', 1)
redis.call('HSET', ticket_key, 'last_customer_at', at)
redis.call('HDEL', ticket_key, 'countdown_started_at')
redis.call('HINCRBY', ticket_key, 'message_count', 1)

local fields = redis.call('HMGET', ticket_key, 'number', 'created_at', 'customer_ticket_count')
outcome['ticket_id'] = ticket_id
outcome['number'] = tonumber(fields[1])
outcome['created_at'] = fields[2]
outcome['customer_ticket_count'] = tonumber(fields[3])
outcome['version'] = version
outcome['duplicate'] = false

local encoded = cjson.encode(outcome)
redis.call('SET', seen_key, encoded, 'EX', seen_ttl)
return encoded
