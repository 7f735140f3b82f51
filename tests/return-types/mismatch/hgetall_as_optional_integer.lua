-- @return nil-or-integer
return redis.call('HGETALL', KEYS[1])
