-- @return integer
local last = 'start'
while true do
  last = redis.call('GET', KEYS[1]) or 'empty'
  break
end
return last
