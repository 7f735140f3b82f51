-- @return integer
return redis.call('PFADD', KEYS[1], ARGV[1])
