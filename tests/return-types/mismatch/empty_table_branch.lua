-- @return integer
local r = redis.call('SMEMBERS', KEYS[1])
if #r == 0 then
  return {}
end
return #r
