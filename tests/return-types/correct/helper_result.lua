-- @return integer
local function count(key)
  return redis.call('LLEN', key)
end
return count(KEYS[1])
