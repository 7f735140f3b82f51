--- Acquires a lock: sets `lock` to `owner` for `ttl_ms` milliseconds unless
--- another owner holds it. Acquiring again as the same owner extends the
--- lock, so a holder can use this to renew it.
-- @key lock the lock key
-- @arg owner token unique to the caller (e.g. a random UUID)
-- @arg ttl_ms lock lifetime in milliseconds (> 0)
-- @return integer 1 when the caller holds the lock, 0 when another owner does
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
