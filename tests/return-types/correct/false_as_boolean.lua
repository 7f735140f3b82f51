-- @return boolean
if redis.call('EXISTS', KEYS[1]) == 1 then
  return true
end
return false
