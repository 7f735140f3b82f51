-- @return integer
local n = tonumber(ARGV[1])
if not n then
  return redis.error_reply('not a number')
end
return redis.call('INCRBY', KEYS[1], n)
