-- @return integer
local s = ''
for i = 1, #KEYS do
  s = s .. redis.call('GET', KEYS[i])
end
return s
