-- @return integer
return redis.call('TYPE', KEYS[1])
