-- @return integer
local n = 0
for i = 1, #KEYS do
  n = n + redis.call('INCR', KEYS[i])
end
return n
