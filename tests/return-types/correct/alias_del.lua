-- @return integer
local rcall = redis.call
return rcall('DEL', KEYS[1])
