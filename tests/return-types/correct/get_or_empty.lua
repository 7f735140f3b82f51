-- @return string
return redis.call('GET', KEYS[1]) or ''
