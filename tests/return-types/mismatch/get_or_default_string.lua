-- @return integer
return redis.call('GET', KEYS[1]) or 'missing'
