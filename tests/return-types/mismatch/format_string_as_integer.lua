-- @return integer
local n = redis.call('SCARD', KEYS[1])
return string.format('%d members', n)
