-- @return string
if redis.call('EXISTS', KEYS[1]) == 0 then
  return
end
return redis.call('GET', KEYS[1])
