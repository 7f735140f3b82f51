-- @return array<string>
return redis.call('INCR', KEYS[1])
