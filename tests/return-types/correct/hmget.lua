-- @return array<nil-or-string>
return redis.call('HMGET', KEYS[1], 'a', 'b')
