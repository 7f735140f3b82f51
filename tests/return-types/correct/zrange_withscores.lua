-- @return array<string>
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
