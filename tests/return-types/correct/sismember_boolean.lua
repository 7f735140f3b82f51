-- @return boolean
return redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1
