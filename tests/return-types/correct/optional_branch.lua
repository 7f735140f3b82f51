-- @return nil-or-string
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
return 'x'
