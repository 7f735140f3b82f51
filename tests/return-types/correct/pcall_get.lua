-- @return integer
return redis.pcall('INCR', KEYS[1])
