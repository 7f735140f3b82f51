-- @return nil-or-integer
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
return redis.call('INCR', KEYS[1])
