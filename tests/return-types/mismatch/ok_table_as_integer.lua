-- @return integer
redis.call('DEL', KEYS[1])
return {ok = 'DELETED'}
