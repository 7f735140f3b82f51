-- @return integer
local fields = redis.call('HGETALL', KEYS[1])
return cjson.encode(fields)
