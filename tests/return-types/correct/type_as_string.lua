-- @return string
return redis.call('TYPE', KEYS[1])
