-- @return integer
return redis.call('ZCARD', KEYS[1])
