-- @return integer
return redis.call('EXISTS', KEYS[1])
