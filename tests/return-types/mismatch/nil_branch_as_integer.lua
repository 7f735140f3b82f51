-- @return integer
local n = redis.call('LLEN', KEYS[1])
if n == 0 then
  return nil
end
return n
