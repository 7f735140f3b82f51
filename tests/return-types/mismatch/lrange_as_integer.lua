-- @return integer
return redis.call('LRANGE', KEYS[1], 0, -1)
