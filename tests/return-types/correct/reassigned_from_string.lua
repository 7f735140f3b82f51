-- @return integer
local r = 'pending'
r = redis.call('INCR', KEYS[1])
return r
