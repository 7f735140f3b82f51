-- @return integer
local v = redis.call('GET', KEYS[1])
v = tonumber(v) or 0
return v
