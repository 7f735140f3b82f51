-- @return boolean
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'yes'
end
return 'no'
