-- @return array<integer>
local n = redis.call('INCR', KEYS[1])
return {n, 'two'}
