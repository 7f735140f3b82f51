--- Benchmark script: increments one counter and returns the new value.
-- @key counter
-- @return integer
return redis.call('INCR', KEYS[1])
