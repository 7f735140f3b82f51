-- @return integer
local ok = redis.call('EXISTS', KEYS[1]) == 1
return ok and 1 or 0
