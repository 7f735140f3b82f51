-- @return boolean
local all = redis.call('HGETALL', KEYS[1])
return all
