-- @return integer
local r = redis.call('HMGET', KEYS[1], 'a', 'b')
return r
