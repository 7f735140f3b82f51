-- @return integer
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {err = 'no such key'}
end
return redis.call('INCR', KEYS[1])
