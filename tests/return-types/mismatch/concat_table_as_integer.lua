-- @return integer
local t = redis.call('LRANGE', KEYS[1], 0, -1)
return table.concat(t, ',')
