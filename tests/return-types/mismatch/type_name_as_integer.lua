-- @return integer
local v = redis.call('GET', KEYS[1])
return type(v)
