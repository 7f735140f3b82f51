-- @return string
local v = redis.call('GET', KEYS[1])
if not v then
  return ''
end
return v
