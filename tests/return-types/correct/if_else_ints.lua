-- @return integer
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
else
  return 0
end
