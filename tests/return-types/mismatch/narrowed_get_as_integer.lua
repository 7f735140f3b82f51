-- @return integer
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
return 0
