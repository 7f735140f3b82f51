-- @return array<string>
return redis.call('LRANGE', KEYS[1], 0, -1)
