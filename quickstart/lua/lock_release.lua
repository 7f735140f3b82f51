--- Releases a lock taken with `lock_acquire`, but only if `owner` still
--- holds it: a caller whose lock expired and was taken by someone else
--- cannot release the new owner's lock.
-- @key lock the lock key
-- @arg owner the token given to `lock_acquire`
-- @return integer 1 when the lock was released, 0 when the caller did not hold it
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
