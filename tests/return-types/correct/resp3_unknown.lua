-- @return integer
redis.setresp(3)
return redis.call('INCR', KEYS[1])
