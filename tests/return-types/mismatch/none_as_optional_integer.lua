-- @return nil-or-integer
local n = redis.call('EXISTS', KEYS[1])
if n == 0 then
  return 'none'
end
return n
