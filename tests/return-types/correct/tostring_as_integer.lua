-- @return integer
local n = redis.call('INCR', KEYS[1])
return tostring(n)
