-- @return integer
local result = 'unset'
local function run()
  result = redis.call('INCR', KEYS[1])
end
run()
return result
