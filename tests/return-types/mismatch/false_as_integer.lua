-- @return integer
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
return redis.call('DEL', KEYS[1])
