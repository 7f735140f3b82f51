-- @return array<string>
return redis.call('EXISTS', KEYS[1])
