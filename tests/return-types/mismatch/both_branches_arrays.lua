-- @return string
local n = redis.call('LLEN', KEYS[1])
if n > 10 then
  return redis.call('LRANGE', KEYS[1], 0, 9)
else
  return redis.call('LRANGE', KEYS[1], 0, -1)
end
