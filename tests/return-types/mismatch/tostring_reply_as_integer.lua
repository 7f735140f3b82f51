-- @return integer
local v = redis.call('HGETALL', KEYS[1])
return tostring(v)
