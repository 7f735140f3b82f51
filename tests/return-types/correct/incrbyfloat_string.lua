-- @return string
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
