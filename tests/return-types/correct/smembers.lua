-- @return array<string>
return redis.call('SMEMBERS', KEYS[1])
