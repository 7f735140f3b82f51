-- @return array
return redis.call('HGETALL', KEYS[1])
