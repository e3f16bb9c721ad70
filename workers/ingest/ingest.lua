-- Thread customer messages into tickets, each atomically with its dedup mark (I2-I4).
--
-- Invariant: a provider message id is applied at most once. The mark stores the outcome
-- and the content the first delivery carried, so a redelivered message returns both and
-- the worker re-publishes the very same events (same ids, same content), whatever a
-- provider retry changed, instead of applying the message again.
--
-- An inbound message never overwrites a Message-ID mapping (ours or another message's),
-- and a `[#n]` subject token threads only the customer of ticket n: numbers are sequential,
-- so anyone can write one.
--
-- One call threads a whole batch of one account, in order: one command to pack and one
-- reply to read instead of one per message (per-command packing was the worker's largest
-- cost), and a script runs alone, so each message still applies atomically.
--
-- KEYS[1]  account base, e.g. `tf:{acme}`; every key used is `KEYS[1] .. ':' .. suffix`
-- ARGV[1]  dedup mark lifetime, seconds
-- ARGV[2]  JSON array of plans, in order; each an object:
--            channel      sms | email | webchat
--            message_id   provider message id
--            thread_key   sms: shop+customer number, webchat: session id; '' for email
--            refs         email references to look up, newest first
--            subject_number  ticket number from a `[#n]` subject token ('' if none)
--            token_customer_keys  who may thread by that token: the ticket's customer key
--                         or `email:` + its customer email must be one of these
--            customer_key customer identity key (for the customer's ticket count)
--            new_ticket_id   ticket id to use if this message opens a new ticket
--            at           message time, RFC 3339
--            fields       field/value pairs stored on a new ticket (customer, subject, ...)
--            recorded     the message content its events carry (JSON text, kept as is)
-- Returns: a JSON array with one outcome per plan, in order:
--          {kind, ticket_id, number, created_at, customer_ticket_count,
--           previous_status, version, duplicate, recorded}
--          kind: created | appended | reopened | unsnoozed
--          recorded: only for a duplicate, the content its first delivery recorded
--
-- `routing:<ticket id>` lists the mappings (`email:<id>`, `thread:<key>`) set to a ticket, so
-- that forgetting it after its retention (workers/closer/purge.lua) deletes them too.
--
-- Mark `seen:<channel>:<message id>`: the outcome JSON, a newline (cjson never writes one),
-- then the recorded content JSON. Marks from before content was kept have no newline.

local base = KEYS[1]
local seen_ttl = tonumber(ARGV[1])

-- A duplicate's reply: its first outcome, with the content its first delivery recorded
-- spliced in as written (re-encoding it would turn empty lists into objects).
local function replay(prior)
  local split = string.find(prior, '\n', 1, true)
  local outcome = cjson.decode(split and string.sub(prior, 1, split - 1) or prior)
  outcome['duplicate'] = true
  local encoded = cjson.encode(outcome)
  if not split then return encoded end
  return string.sub(encoded, 1, -2) .. ',"recorded":' .. string.sub(prior, split + 1) .. '}'
end

-- Whether the sender (one of `keys`) is the customer of the ticket at `ticket_key`.
local function is_customer_of(ticket_key, keys)
  local owner = redis.call('HMGET', ticket_key, 'customer_key', 'customer_email')
  for _, key in ipairs(keys) do
    if key == owner[1] or (owner[2] and key == 'email:' .. string.lower(owner[2])) then
      return true
    end
  end
  return false
end

local function thread_one(plan)
  local channel, message_id, thread_key = plan.channel, plan.message_id, plan.thread_key
  local refs, subject_number, customer_key = plan.refs, plan.subject_number, plan.customer_key
  local new_ticket_id, at = plan.new_ticket_id, plan.at

  local seen_key = base .. ':seen:' .. channel .. ':' .. message_id
  local prior = redis.call('GET', seen_key)
  if prior then return replay(prior) end

  -- Find the ticket this message continues.
  local ticket_id = false
  if channel == 'email' then
    for _, ref in ipairs(refs) do
      ticket_id = redis.call('GET', base .. ':email:' .. ref)
      if ticket_id then break end
    end
    if not ticket_id and subject_number ~= '' then
      local numbered = redis.call('GET', base .. ':number:' .. subject_number)
      if numbered and is_customer_of(base .. ':ticket:' .. numbered,
                                     plan.token_customer_keys) then
        ticket_id = numbered
      end
    end
  else
    ticket_id = redis.call('GET', base .. ':thread:' .. thread_key)
  end

  local outcome = {}
  local ticket_key
  if ticket_id then
    ticket_key = base .. ':ticket:' .. ticket_id
    local status = redis.call('HGET', ticket_key, 'status')
    if not status then
      ticket_id = false  -- a mapping left to a ticket forgotten after its retention
    elseif status == 'closed' and channel == 'webchat' then
      ticket_id = false  -- a closed chat is never reopened: a new ticket starts
    elseif status == 'closed' or status == 'snoozed' then
      local number = redis.call('HGET', ticket_key, 'number')
      move_status_view(base, ticket_id, status, 'open', number)  -- prelude status_view.lua
      outcome['kind'] = (status == 'closed') and 'reopened' or 'unsnoozed'
      outcome['previous_status'] = status
    else
      outcome['kind'] = 'appended'
    end
  end

  if not ticket_id then
    local number = redis.call('INCR', base .. ':seq')
    ticket_id = new_ticket_id
    ticket_key = base .. ':ticket:' .. ticket_id
    if redis.call('EXISTS', ticket_key) == 1 then
      -- The message id opened a ticket before and was forgotten (past the dedup window):
      -- the new ticket gets an id of its own instead of overwriting that one.
      ticket_id = new_ticket_id .. '-' .. number
      ticket_key = base .. ':ticket:' .. ticket_id
    end
    local count = redis.call('INCR', base .. ':customer:' .. customer_key)
    redis.call('HSET', ticket_key, 'ticket_id', ticket_id, 'number', number, 'status', 'open',
               'created_at', at, 'customer_key', customer_key,
               'customer_ticket_count', count, 'version', 0)
    local fields = plan.fields
    for i = 1, #fields, 2 do
      if fields[i + 1] ~= '' then redis.call('HSET', ticket_key, fields[i], fields[i + 1]) end
    end
    redis.call('SET', base .. ':number:' .. number, ticket_id)
    redis.call('ZADD', base .. ':tickets', number, ticket_id)
    redis.call('ZADD', base .. ':status:open', number, ticket_id)
    outcome['kind'] = 'created'
  end

  if channel == 'email' then
    -- NX: a Message-ID already known (one of our replies, or a message past the dedup
    -- window) keeps its ticket; an inbound message cannot take it over.
    if redis.call('SET', base .. ':email:' .. message_id, ticket_id, 'NX') then
      redis.call('SADD', base .. ':routing:' .. ticket_id, 'email:' .. message_id)
    end
  else
    redis.call('SET', base .. ':thread:' .. thread_key, ticket_id)
    redis.call('SADD', base .. ':routing:' .. ticket_id, 'thread:' .. thread_key)
  end

  -- Customer activity: a new activity version makes any running countdown stale (C2, C6).
  local version = redis.call('HINCRBY', ticket_key, 'version', 1)
  redis.call('HSET', ticket_key, 'last_customer_at', at, 'last_author', 'customer')  -- R15
  redis.call('HDEL', ticket_key, 'countdown_started_at')
  redis.call('HINCRBY', ticket_key, 'message_count', 1)

  local stored = redis.call('HMGET', ticket_key, 'number', 'created_at', 'customer_ticket_count')
  outcome['ticket_id'] = ticket_id
  outcome['number'] = tonumber(stored[1])
  outcome['created_at'] = stored[2]
  outcome['customer_ticket_count'] = tonumber(stored[3])
  outcome['version'] = version
  outcome['duplicate'] = false

  local encoded = cjson.encode(outcome)
  redis.call('SET', seen_key, encoded .. '\n' .. plan.recorded, 'EX', seen_ttl)
  return encoded
end

local outcomes = {}
for i, plan in ipairs(cjson.decode(ARGV[2])) do
  outcomes[i] = thread_one(plan)
end
return '[' .. table.concat(outcomes, ',') .. ']'

