-- @return nil-or-array<string>
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
return redis.call('LRANGE', KEYS[1], 0, -1)
