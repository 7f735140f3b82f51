-- @return integer
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
