#!lua name=bench

--- Benchmark function: increments one counter and returns the new value
--- (the function twin of `bench-lua/incr.lua`).
-- @key counter
-- @return integer
redis.register_function('incr', function(keys)
  return redis.call('INCR', keys[1])
end)
