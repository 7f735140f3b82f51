-- @return string
return redis.call('INCR', KEYS[1])
