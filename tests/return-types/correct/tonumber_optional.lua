-- @return nil-or-integer
return tonumber(redis.call('GET', KEYS[1]))
