-- @return integer
local status = redis.call('SET', KEYS[1], ARGV[1], 'NX')
return status
