-- @return integer
return redis.call('HSET', KEYS[1], 'f', ARGV[1])
