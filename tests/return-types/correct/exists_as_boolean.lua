-- @return boolean
return redis.call('EXISTS', KEYS[1]) == 1
