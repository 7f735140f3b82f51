-- @return status
redis.call('DEL', KEYS[1])
return nil
