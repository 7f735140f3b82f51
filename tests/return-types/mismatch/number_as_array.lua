-- @return array<string>
redis.call('DEL', KEYS[1])
return 42
