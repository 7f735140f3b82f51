-- @key key
-- @return nil-or-string
return redis.call('GET', KEYS[1])
