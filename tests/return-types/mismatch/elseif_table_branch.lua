-- @return string
local t = redis.call('TYPE', KEYS[1])
if t == 'none' then
  return ''
elseif t == 'list' then
  return {}
end
return 'other'
