-- Extend a handoff lease, only if this replica still holds it.
--
-- KEYS[1]  the handoff's lease key  `tf:{acme}:handoff:lease:<handoff_id>`
-- ARGV[1]  owner token
-- ARGV[2]  new lifetime, milliseconds
-- Returns: 1 if extended, 0 if the lease was lost (expired or taken over)

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
