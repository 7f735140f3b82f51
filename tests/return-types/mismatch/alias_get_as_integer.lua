-- @return integer
local rcall = redis.call
return rcall('GET', KEYS[1])
