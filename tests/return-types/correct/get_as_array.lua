-- @return array<string>
return redis.call('GET', KEYS[1])
