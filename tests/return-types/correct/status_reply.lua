-- @return status
redis.call('DEL', KEYS[1])
return redis.status_reply('OK')
