-- @return integer
local ok = redis.call('EXISTS', KEYS[1]) == 1
return ok and 'yes' or 'no'
